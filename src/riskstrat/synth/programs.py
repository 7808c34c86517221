"""Care-management referrals (who is already being served) and social-needs screenings."""

from __future__ import annotations

import numpy as np

from riskstrat.synth import reference as ref
from riskstrat.synth.encounters import Month

STRONGER, CARES, WRAP, LIFE, OTHER = range(5)
REFERRED, ENROLLED, DECLINED, UNREACHED, DISCHARGED = range(5)
INSTR_DOMAINS = {
    0: list(range(8)),                 # prapare: the whole set
    1: [0, 1, 2, 3, 4],                # ahc_hrsn core domains
    2: [5, 4, 6],                      # cans: caregiver, safety, school
    3: [0, 1],                         # other short screeners
}
DOMAIN_BASE = np.array([0.06, 0.10, 0.05, 0.06, 0.02, 0.07, 0.05, 0.08])
# A planted programme refers about this share of its candidates a month (half of them enrol):
# a child with the average number of the programme's crises in the last year at this rate, one
# with more proportionally more often, and any child ten times as often in the month after a
# crisis (the claims and ADT messages show the crisis, the list flags the child, outreach
# follows), so that children are picked at a peak, as in life.
PLANTED_REFERRAL_SHARE = 0.004
CRISIS_REFERRAL_FACTOR = 10.0


class CareManagement:
    """Status history built month by month; the snapshot at month m holds rows dated by then.

    ``planted`` (programme index -> share of hazards removed) names the programmes given an effect
    (``PlanSpec.programme_effects``): each also enrols children of its own accord
    (:meth:`planted_referrals`), and a child's first enrolment in one lowers all their acute
    hazards from the month after enrolment to the end of the plan (:meth:`hazard_multiplier`).
    """

    def __init__(self, n: int, month_start: np.ndarray, planted: dict[int, float] | None = None) -> None:
        self.busy_until = np.full(n, -1, np.int64)
        self.rows: list[dict] = []
        self.month_start = month_start
        self.planted = dict(planted or {})
        self.shares = np.zeros(len(ref.PROGRAMS))  # each programme's share of hazards removed (0: none planted)
        self.shares[list(self.planted)] = list(self.planted.values())
        self.enrolled_in = np.zeros((n, len(ref.PROGRAMS)), bool)
        # the month a person's planted effect begins, and the programme whose enrolment began it (-1: none)
        self.effect_from = np.full(n, np.iinfo(np.int64).max, np.int64)
        self.effect_program = np.full(n, -1, np.int64)
        # each planted programme's crises per person in each of the last 12 months (a ring, oldest overwritten)
        self.crises = {program: np.zeros((12, n), np.int16) for program in self.planted}
        self.months_seen = 0

    def month(self, mo: Month, tr, pop, acute_bh: np.ndarray, acute_med: np.ndarray, ed_any: np.ndarray) -> None:
        """Referrals of this month and each referral's later statuses."""
        rng = mo.rng
        a = mo.active
        a = a[tr.is_child[a] & (mo.age[a] < 21) & (self.busy_until[a] < mo.start)]
        n = len(a)
        hazard = (0.0012 + 0.15 * acute_bh[a] + 0.08 * acute_med[a] + 0.02 * ed_any[a]
                  + 0.01 * (mo.social[a] == 2) + 0.008 * tr.foster[a] + 0.004 * (tr.pmca[a] == 2))
        ref_ = rng.random(n) < hazard
        p = a[ref_]
        k = len(p)
        if k == 0:
            return
        u = rng.random(k)
        program = np.select(
            [acute_bh[p] & (tr.foster[p] | (u < 0.3)), acute_bh[p], acute_med[p] | (tr.pmca[p] == 2),
             mo.social[p] == 2], [WRAP, STRONGER, CARES, LIFE], np.where(u < 0.5, STRONGER, OTHER))
        self._refer(mo, rng, p, program)

    def planted_referrals(self, mo: Month, rng: np.random.Generator, tr, crises: dict[int, np.ndarray]) -> None:
        """Referrals into each planted programme, as a plan working its list makes them, from what the
        plan's records show: the more of the crises the programme is for a child had in the last 12
        months, the likelier, and ten times likelier in the month after one (``crises``: this
        month's count per person, kept for the months to come). Children already served, or ever
        enrolled in the programme, are not referred.

        Never from the latent state no record shows: a programme picking children by it would make
        them differ from every comparison in a way no evaluation from records can undo."""
        slot = self.months_seen % 12
        for program in sorted(self.planted):
            history = self.crises[program]
            a = mo.active
            a = a[tr.is_child[a] & (mo.age[a] < 21) & (self.busy_until[a] < mo.start) & ~self.enrolled_in[a, program]]
            weight = 1.0 + history[:, a].sum(axis=0)
            relative = weight / float(weight.mean()) if len(a) else weight
            after_crisis = history[(slot - 1) % 12, a] > 0
            hazard = np.minimum(PLANTED_REFERRAL_SHARE * relative * (1.0 + (CRISIS_REFERRAL_FACTOR - 1) * after_crisis),
                                0.5)
            history[slot] = np.minimum(crises[program], np.iinfo(np.int16).max)
            p = a[rng.random(len(a)) < hazard]
            if len(p):
                self._refer(mo, rng, p, np.full(len(p), program))
        self.months_seen += 1

    def _refer(self, mo: Month, rng: np.random.Generator, p: np.ndarray, program: np.ndarray) -> None:
        """Each referral's statuses: half enrol 5-45 days later and are discharged 90-365 days after that."""
        k = len(p)
        d0 = mo.start + (rng.random(k) * (mo.end - mo.start + 1)).astype(np.int64)
        v = rng.random(k)
        outcome = np.select([v < 0.5, v < 0.7], [ENROLLED, DECLINED], UNREACHED)
        d1 = d0 + rng.integers(5, 45, k)
        d2 = d1 + rng.integers(90, 365, k)
        enrolled = outcome == ENROLLED
        agency = rng.integers(0, len(ref.AGENCIES), k)
        coord = 1000 + rng.integers(0, 400, k)
        self.rows.append(dict(person=p, program=program, status=np.full(k, REFERRED), day=d0, agency=agency, coord=np.full(k, -1)))
        self.rows.append(dict(person=p, program=program, status=outcome, day=d1, agency=agency,
                              coord=np.where(enrolled, coord, -1)))
        self.rows.append(dict(person=p[enrolled], program=program[enrolled], status=np.full(int(enrolled.sum()), DISCHARGED),
                              day=d2[enrolled], agency=agency[enrolled], coord=coord[enrolled]))
        self.busy_until[p] = np.where(enrolled, d2, d1 + 180)
        if self.planted:
            self._plant(p[enrolled], program[enrolled], d1[enrolled])

    def _plant(self, persons: np.ndarray, program: np.ndarray, enrolled_on: np.ndarray) -> None:
        # A child's first enrolment in a programme with an effect sets theirs; a later one changes nothing.
        first = (self.shares[program] > 0) & (self.effect_program[persons] < 0)
        month = np.searchsorted(self.month_start, enrolled_on, side="right") - 1
        who = persons[first]
        self.effect_from[who] = month[first] + 1
        self.effect_program[who] = program[first]
        self.enrolled_in[persons, program] = True

    def hazard_multiplier(self, persons: np.ndarray, m: int) -> np.ndarray:
        """What is left of each person's acute hazards in sim month ``m`` (1 where no planted effect has begun)."""
        began = self.effect_from[persons] <= m
        return np.where(began, 1.0 - self.shares[np.maximum(self.effect_program[persons], 0)], 1.0)

    def snapshot(self, last_day: int) -> dict:
        """Every status row dated up to ``last_day``."""
        if not self.rows:
            return dict(person=np.zeros(0, np.int64), program=np.zeros(0, np.int64), status=np.zeros(0, np.int64),
                        day=np.zeros(0, np.int64), agency=np.zeros(0, np.int64), coord=np.zeros(0, np.int64))
        allr = {k: np.concatenate([r[k] for r in self.rows]) for k in self.rows[0]}
        self.rows = [allr]
        keep = allr["day"] <= last_day
        out = {k: v[keep] for k, v in allr.items()}
        order = np.lexsort((out["status"], out["day"], out["person"]))
        return {k: v[order] for k, v in out.items()}


def screenings(mo: Month, well: dict, tr, pop) -> dict:
    """PRAPARE / AHC-HRSN / CANS screens at some well-child visits, one row per domain; more
    positive answers when the household is strained."""
    rng = mo.rng
    p, day = well["person"], well["day"]
    # one screen per child and month at most (two well visits in a month happen for infants)
    first = np.zeros(len(p), bool)
    first[np.unique(p, return_index=True)[1]] = True
    keep = first & tr.is_child[p] & (mo.age[p] < 21) & (rng.random(len(p)) < 0.3)
    p, day = p[keep], day[keep]
    n = len(p)
    instr = np.where(mo.bh[p] >= 2, 2, rng.choice(np.array([0, 1, 2, 3]), size=n, p=[0.47, 0.43, 0.03, 0.07]))
    n_dom = np.array([len(INSTR_DOMAINS[i]) for i in range(4)])[instr]
    rows = np.repeat(np.arange(n), n_dom)
    k = np.arange(len(rows)) - np.repeat(np.cumsum(n_dom) - n_dom, n_dom)
    table = np.full((4, 8), -1)
    for i, doms in INSTR_DOMAINS.items():
        table[i, : len(doms)] = doms
    domain = table[instr[rows], k]
    soc = mo.social[p][rows]
    adv = np.minimum(pop.hh_adversity[pop.hh[p]][rows], 3.0)
    p_pos = np.minimum(DOMAIN_BASE[domain] * np.array([1.0, 3.5, 7.0])[soc] * adv, 0.9)
    u = rng.random(len(rows))
    result = np.where(u < 0.02, 2, np.where(u < 0.02 + p_pos, 0, 1))
    lag = rng.integers(0, 25, n)
    return dict(person=p[rows], day=day[rows], instrument=instr[rows], domain=domain, result=result,
                deliver_day=(day + lag)[rows])
