"""Who is in the plan: households, demographics, births, deaths and enrolment spans.

Everything here is decided up front for the whole simulated window (enrolment and death do
not depend on health in this generator), so later stages can look up who is enrolled when.
Arrays are indexed by person (``p``) or household (``h``); no Python loop runs over people.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from riskstrat.synth import reference as ref
from riskstrat.synth.spec import PlanSpec

DAY0 = np.datetime64("1970-01-01", "D")

# Household kinds: family (adults + children), adult-only, child-only case (kin caregiver not
# enrolled), foster care (a state agency case, usually no adult on it).
FAMILY, ADULT_ONLY, CHILD_ONLY, FOSTER = 0, 1, 2, 3
KIND_WEIGHTS = np.array([0.60, 0.305, 0.07, 0.025])

# Monthly churn: most Medicaid disenrolment happens to a whole case at renewal.
P_CASE_LOSS, P_PERSON_LOSS = 0.016, 0.004
P_CASE_REJOIN, P_PERSON_REJOIN = 0.10, 0.02
P_NEW_MEMBER_ID = 0.2  # re-enrolment under a new Medicaid id


def month_days(first: np.datetime64, n: int) -> tuple[np.ndarray, np.ndarray]:
    """First and last day (days since 1970) of n consecutive months from ``first``."""
    months = first + np.arange(n + 1)
    starts = (months.astype("datetime64[D]") - DAY0).astype(np.int32)
    return starts[:-1], starts[1:] - 1


@dataclass
class Population:
    """Every person and household of the plan, as arrays."""
    n: int
    n_households: int
    hh: np.ndarray            # household of each person
    hh_kind: np.ndarray
    is_child: np.ndarray      # follows the child process (under 21 at the start or born later)
    birth: np.ndarray         # days since 1970
    birth_month: np.ndarray   # sim month index (negative: before the window)
    sex: np.ndarray           # index into reference.GENDERS
    relation: np.ndarray
    race: np.ndarray
    ethnicity: np.ndarray
    aid: np.ndarray
    payer_type: np.ndarray
    first_name: np.ndarray    # index into the sex's first-name list
    last_name: np.ndarray
    death_month: np.ndarray   # sim month index, sim_months if alive throughout
    death_day: np.ndarray
    person_num: np.ndarray    # opaque number behind person_id
    hh_adversity: np.ndarray
    hh_chip: np.ndarray
    hh_case: np.ndarray       # number behind subscriber_id
    hh_city: np.ndarray
    hh_zip: np.ndarray
    hh_street_no: np.ndarray
    hh_street: np.ndarray
    hh_phone: np.ndarray
    enrolled: np.ndarray      # (persons, sim months) bool
    member_of_month: np.ndarray  # (persons, sim months) member-id index or -1
    member_num: np.ndarray    # number behind each member_id
    span_person: np.ndarray
    span_start_m: np.ndarray
    span_end_m: np.ndarray
    span_start_day: np.ndarray
    span_end_day: np.ndarray  # last enrolled day (death day if died)
    span_member: np.ndarray
    month_start: np.ndarray   # per sim month
    month_end: np.ndarray

    def age_years(self, day: int | np.ndarray) -> np.ndarray:
        """Whole years of age on ``day``."""
        return ((day - self.birth) // 365.25).astype(np.int16)

    def alive(self, m: int) -> np.ndarray:
        """Born by and not dead before sim month m."""
        return (self.birth_month <= m) & (self.death_month >= m)


def _households(spec: PlanSpec, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Household kind, adults and children per household, cut to exactly spec.members persons."""
    n_hh = int(spec.members / 2.3) + 20
    while True:
        kind = rng.choice(4, size=n_hh, p=KIND_WEIGHTS / KIND_WEIGHTS.sum())
        adults = np.select(
            [kind == FAMILY, kind == ADULT_ONLY],
            [1 + (rng.random(n_hh) < 0.3), 1 + (rng.random(n_hh) < 0.1)], 0)
        kids = np.select(
            [kind == FAMILY, kind == CHILD_ONLY, kind == FOSTER],
            [1 + np.minimum(rng.poisson(1.0, n_hh), 5), 1 + rng.binomial(2, 0.15, n_hh),
             1 + (rng.random(n_hh) < 0.2)], 0)
        size = adults + kids
        total = np.cumsum(size)
        if total[-1] >= spec.members:
            break
        n_hh = int(n_hh * 1.2)
    keep = int(np.searchsorted(total, spec.members)) + 1
    kind, adults, kids = kind[:keep], adults[:keep], kids[:keep]
    # Trim the last household so the plan has exactly the persons asked for.
    over = int(total[keep - 1] - spec.members)
    take_kids = min(over, max(int(kids[-1]) - (1 if adults[-1] == 0 else 0), 0))
    kids[-1] -= take_kids
    adults[-1] -= over - take_kids
    return kind, adults, kids


def build_population(spec: PlanSpec, rng: np.random.Generator) -> Population:
    """Households, people, deaths and enrolment spans for the whole simulated window."""
    S = spec.sim_months
    month_start, month_end = month_days(spec.first_sim_month, S)
    start_day, end_day = int(month_start[0]), int(month_end[-1])

    kind, adults, kids = _households(spec, rng)
    H = len(kind)
    size = adults + kids
    hh = np.repeat(np.arange(H, dtype=np.int32), size)
    n = len(hh)
    # Position inside the household: adults first, then children.
    first = np.repeat(np.cumsum(size) - size, size)
    pos = np.arange(n) - first
    is_adult = pos < np.repeat(adults, size)
    is_child = ~is_adult

    # Ages: children uniform over 0-20 at the end of the window (so births fall in the window
    # naturally), thinner at 19-20 where CHIP and much of Medicaid stop; adults 21-64.
    age_end = rng.random(n) * 21.0
    thin = (age_end >= 19) & (rng.random(n) < 0.4)
    age_end[thin] = rng.random(int(thin.sum())) * 19.0
    adult_age_start = np.where(np.repeat(kind, size) == FAMILY,
                               21 + rng.gamma(4.0, 2.6, n), 21 + rng.random(n) * 43)
    adult_age_start = np.minimum(adult_age_start, 64.5)
    birth = np.where(is_child, end_day - (age_end * 365.25).astype(np.int64),
                     start_day - (adult_age_start * 365.25).astype(np.int64)).astype(np.int32)
    birth_month = (np.searchsorted(month_start, birth, side="right") - 1).astype(np.int32)
    birth_month[birth < start_day] = -1 - ((start_day - birth[birth < start_day]) // 30)

    sex = np.where(is_child, (rng.random(n) < 0.51).astype(np.int8),
                   (rng.random(n) < 0.22).astype(np.int8))
    relation = np.where(is_child, 1, np.where(pos == 0, 0, np.where(rng.random(n) < 0.6, 2, 3)))
    hh_kind = np.repeat(kind, size)
    relation[(hh_kind == FOSTER)] = 3
    relation = relation.astype(np.int8)

    hh_race = rng.choice(len(ref.RACES), size=H, p=np.array(ref.RACE_WEIGHTS) / sum(ref.RACE_WEIGHTS))
    race = hh_race[hh].copy()
    mixed = rng.random(n) < 0.08
    race[mixed] = rng.choice(len(ref.RACES), size=int(mixed.sum()), p=np.array(ref.RACE_WEIGHTS) / sum(ref.RACE_WEIGHTS))
    hh_hisp = rng.random(H) < 0.14
    ethnicity = hh_hisp[hh].astype(np.int8)
    ethnicity[rng.random(n) < 0.07] = 2
    hh_last = rng.integers(0, len(ref.LAST_NAMES), H)
    last_name = hh_last[hh].copy()
    own_last = rng.random(n) < 0.25
    last_name[own_last] = rng.integers(0, len(ref.LAST_NAMES), int(own_last.sum()))
    first_name = rng.integers(0, len(ref.FIRST_FEMALE), n).astype(np.int16)

    # Adversity drives the household's social-instability chain and children's BH liability.
    hh_adversity = rng.lognormal(0.0, 0.6, H) * np.select([kind == FOSTER, kind == CHILD_ONLY], [1.8, 1.4], 1.0)
    hh_chip = (kind == FAMILY) & (rng.random(H) < 0.17)
    hh_case = 100_000_000 + rng.permutation(900_000_000 if H > 10_000_000 else 10 * H + 1000)[:H]
    city_w = np.array([c[3] for c in ref.CITIES])
    hh_city = rng.choice(len(ref.CITIES), size=H, p=city_w / city_w.sum()).astype(np.int8)
    hh_zip = rng.integers(1, 60, H).astype(np.int16)
    hh_street_no = rng.integers(10, 9900, H).astype(np.int32)
    hh_street = rng.integers(0, len(ref.STREETS), H).astype(np.int8)
    hh_phone = rng.integers(0, 100, H).astype(np.int16)

    # Deaths: rare for children (higher in infancy), commoner for adults; independent of the
    # latent health chain so the exact truth only needs a constant hazard.
    hazard = np.where(is_child, np.where(birth_month >= 0, 0.00008, 0.00003), 0.0006)
    first_alive = np.maximum(birth_month, 0)
    wait = np.floor(np.log(rng.random(n)) / np.log1p(-hazard)).astype(np.int64)
    death_month = np.minimum(first_alive + wait, S).astype(np.int32)
    died = death_month < S
    dm = np.minimum(death_month, S - 1)
    lo = np.maximum(month_start[dm], birth)
    death_day = np.where(died, lo + (rng.random(n) * (month_end[dm] - lo + 1)).astype(np.int32), 0).astype(np.int32)

    enrolled = _enrolment(rng, hh, H, birth_month, death_month, S)
    spans = _spans(rng, enrolled, birth, birth_month, death_month, death_day, month_start, month_end)
    person_num = 10_000_000 + rng.permutation(89_999_999 if n > 8_000_000 else 10 * n + 1000)[:n]

    pop = Population(
        n=n, n_households=H, hh=hh, hh_kind=hh_kind, is_child=is_child, birth=birth,
        birth_month=birth_month, sex=sex, relation=relation, race=race.astype(np.int8),
        ethnicity=ethnicity, aid=np.zeros(n, np.int8), payer_type=np.zeros(n, np.int8),
        first_name=first_name, last_name=last_name.astype(np.int16), death_month=death_month,
        death_day=death_day, person_num=person_num, hh_adversity=hh_adversity, hh_chip=hh_chip,
        hh_case=hh_case, hh_city=hh_city, hh_zip=hh_zip, hh_street_no=hh_street_no,
        hh_street=hh_street, hh_phone=hh_phone, enrolled=enrolled, month_start=month_start,
        month_end=month_end, **spans)
    return pop


def _enrolment(rng, hh, H, birth_month, death_month, S) -> np.ndarray:
    n = len(hh)
    E = np.zeros((n, S), dtype=bool)
    hh_in = rng.random(H) < 0.84
    cur = hh_in[hh] & (rng.random(n) < 0.97)
    for t in range(S):
        alive = (birth_month <= t) & (death_month >= t)
        if t > 0:
            case_loss = (rng.random(H) < P_CASE_LOSS)[hh]
            case_join = (rng.random(H) < P_CASE_REJOIN)[hh]
            u = rng.random(n)
            cur = np.where(cur, ~(case_loss | (u < P_PERSON_LOSS)), case_join | (u < P_PERSON_REJOIN))
        # Newborns of members are deemed eligible for their first year.
        cur = cur | ((t - birth_month >= 0) & (t - birth_month < 12))
        cur &= alive
        E[:, t] = cur
    return E


def _spans(rng, E, birth, birth_month, death_month, death_day, month_start, month_end) -> dict:
    n, S = E.shape
    padded = np.zeros((n, S + 2), dtype=bool)
    padded[:, 1:-1] = E
    sp, st = np.nonzero(padded[:, 1:-1] & ~padded[:, :-2])
    ep, et = np.nonzero(padded[:, 1:-1] & ~padded[:, 2:])
    assert np.array_equal(sp, ep)
    st, et = st.astype(np.int32), et.astype(np.int32)
    start_day = month_start[st].copy()
    # Spans open at the start of the window began earlier: at birth or up to five years back.
    old = st == 0
    back = month_start[0] - (rng.random(int(old.sum())) * 5 * 365).astype(np.int32)
    start_day[old] = np.maximum(back, birth[sp[old]])
    born_here = st == birth_month[sp]
    start_day[born_here] = birth[sp[born_here]]
    end_day = np.where(et == death_month[sp], death_day[sp], month_end[et]).astype(np.int32)
    # A new span keeps the member id unless the state issued a new one at re-enrolment.
    first_of_person = np.r_[True, sp[1:] != sp[:-1]]
    new_id = first_of_person | (rng.random(len(sp)) < P_NEW_MEMBER_ID)
    span_member = (np.cumsum(new_id) - 1).astype(np.int32)
    n_ids = int(new_id.sum())
    member_num = 100_000_000_000 + rng.permutation(10 * n_ids + 1000)[:n_ids]
    lengths = et - st + 1
    M = np.full((n, S), -1, dtype=np.int32)
    rows = np.repeat(sp, lengths)
    cols = np.repeat(st, lengths) + (np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths))
    M[rows, cols] = np.repeat(span_member, lengths)
    return dict(member_of_month=M, member_num=member_num, span_person=sp.astype(np.int32), span_start_m=st,
                span_end_m=et, span_start_day=start_day.astype(np.int32), span_end_day=end_day,
                span_member=span_member)


def assign_aid(pop: Population, pmca: np.ndarray, rng: np.random.Generator, birth_day_limit: int) -> None:
    """Aid category and payer type; SSI-disabled children are mostly the medically complex."""
    n = pop.n
    u = rng.random(n)
    age_end = (birth_day_limit - pop.birth) / 365.25
    aid = np.where(u < 0.82, 0, 5).astype(np.int8)                       # tanf / other
    child = pop.is_child
    ssi_p = np.select([pmca == 2, pmca == 1], [0.35, 0.04], 0.008)
    aid[child & (rng.random(n) < ssi_p)] = 1
    aid[child & (pop.hh_kind == CHILD_ONLY) & (rng.random(n) < 0.15)] = 3
    aid[child & (rng.random(n) < 0.006)] = 3
    chip = child & pop.hh_chip[pop.hh] & (age_end < 19) & (aid != 1)
    aid[chip] = 4
    aid[child & (pop.hh_kind == FOSTER)] = 2
    adult = ~child
    aid[adult] = rng.choice(np.array([0, 1, 5], np.int8), size=int(adult.sum()), p=[0.6, 0.2, 0.2])
    pop.aid = aid
    pop.payer_type = (aid == 4).astype(np.int8)
