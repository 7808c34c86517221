"""What the plan sees: visits, stays and ED encounters turned into claim lines and ADT messages.

The latent states reach the data only through visits: a child in a BH episode shows a BH
diagnosis only if the family brings the child in (``engagement``), codes are noisy, claims are
paid weeks to months later, and some hospitals never send ADT. Each function returns numpy
columns (codes as vocabulary indices, dates as days since 1970, -1 = null); :mod:`writer`
turns them into Arrow tables.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from riskstrat.synth import reference as ref
from riskstrat.synth.codes import Codes
from riskstrat.synth.latent import ED_BH, ED_OTHER, IP_MED, IP_PSY
from riskstrat.synth.providers import Providers

PROFESSIONAL, INSTITUTIONAL = 0, 1
NO_DATE = np.iinfo(np.int32).min  # as writer.NO_DATE
PAID, DENIED, REVERSED = 0, 1, 2
N_DX = 4
P_DENIED = 0.04
P_ADJUSTED, P_REVERSED = 0.02, 0.01
P_DOTTED = 0.35  # share of claims whose billing system writes ICD codes with the dot
P_ED_CLAIM = 0.92  # ED visits that later appear as claims (the rest: unbilled, out-of-network)
P_ADT_SENT = 0.97  # ED visits at ADT-feeding hospitals that reach the feed

# Typical billed charge per line, dollars (before a lognormal spread).
CHARGE = dict(well=210.0, office=140.0, specialist=230.0, bh=160.0, dental=95.0, ed_facility=1650.0,
              ed_prof=420.0, ancillary=310.0, room_board=2600.0, psych_day=1300.0, ip_prof=210.0)


@dataclass
class Month:
    """Everything an encounter function needs about one simulated month."""

    m: int
    start: int
    end: int
    rng: np.random.Generator
    active: np.ndarray      # persons enrolled and alive, as indices
    age: np.ndarray         # years at the start of the month, for every person
    bh: np.ndarray          # per person (0 for adults without BH)
    flare: np.ndarray
    social: np.ndarray


@dataclass
class PersonTraits:
    """Traits in person space (children's latent traits, adults' simpler ones)."""

    is_child: np.ndarray
    pmca: np.ndarray
    cond: np.ndarray          # (n, 2) condition index (children: CONDITIONS; adults: ADULT_CONDITIONS)
    cond_code: np.ndarray     # (n, 2) the person's ICD index for each condition, -1 none
    bh_code: np.ndarray       # the person's usual BH diagnosis, -1 none
    bh_group: np.ndarray      # ICD index array id (profile) for coding noise
    engagement: np.ndarray
    adherence: np.ndarray
    foster: np.ndarray
    pcp: np.ndarray           # assigned primary-care provider (rendering index)
    adult_bh: np.ndarray


def _days(mo: Month, rng, n: int) -> np.ndarray:
    return mo.start + (rng.random(n) * (mo.end - mo.start + 1)).astype(np.int32)


def _poisson_persons(mo: Month, rate: np.ndarray) -> np.ndarray:
    """Persons (indices, repeated per visit) for Poisson visit counts among the active."""
    counts = mo.rng.poisson(rate[mo.active])
    return np.repeat(mo.active, counts)


class ClaimBuilder:
    """Collects claims of one month; :meth:`finish` gives line-level columns."""

    def __init__(self, codes: Codes, prov: Providers, tr: PersonTraits) -> None:
        self.codes, self.prov, self.tr = codes, prov, tr
        self.claims: list[dict] = []
        self.lines: list[dict] = []
        self._n = 0

    def add(self, *, person, start, end, ctype, dx, line_claim, line_hcpcs=None, line_rev=None,
            line_units=None, line_charge, pos=None, bill=None, rendering=None, facility=None,
            adm=None, dis=None, admit_type=None, admit_source=None, disch=None, line_start=None,
            line_end=None) -> None:
        C, L = len(person), len(line_claim)
        neg = lambda n: np.full(n, -1, np.int32)  # noqa: E731
        rendering = neg(C) if rendering is None else rendering
        billing = np.where(rendering >= 0, self.prov.billing_of[np.maximum(rendering, 0)], -1)
        if facility is not None:
            billing = np.where(facility >= 0, facility, billing)
        self.claims.append(dict(
            person=person.astype(np.int32), start=start.astype(np.int32), end=end.astype(np.int32),
            ctype=np.full(C, ctype, np.int8), dx=dx.astype(np.int32),
            pos=neg(C) if pos is None else np.broadcast_to(pos, C).astype(np.int32),
            bill=neg(C) if bill is None else np.broadcast_to(bill, C).astype(np.int32),
            rendering=rendering.astype(np.int64), billing=billing.astype(np.int64),
            facility=(neg(C) if facility is None else facility).astype(np.int64),
            adm=np.full(C, NO_DATE, np.int32) if adm is None else adm.astype(np.int32),
            dis=np.full(C, NO_DATE, np.int32) if dis is None else dis.astype(np.int32),
            admit_type=neg(C) if admit_type is None else admit_type.astype(np.int32),
            admit_source=neg(C) if admit_source is None else admit_source.astype(np.int32),
            disch=neg(C) if disch is None else disch.astype(np.int32)))
        self.lines.append(dict(
            claim=(line_claim + self._n).astype(np.int64),
            hcpcs=neg(L) if line_hcpcs is None else line_hcpcs.astype(np.int32),
            rev=neg(L) if line_rev is None else line_rev.astype(np.int32),
            units=np.ones(L, np.int32) if line_units is None else line_units.astype(np.int32),
            charge=line_charge.astype(np.float64),
            lstart=(start[line_claim] if line_start is None else line_start).astype(np.int32),
            lend=(end[line_claim] if line_end is None else line_end).astype(np.int32)))
        self._n += C

    def finish(self, rng: np.random.Generator, next_claim: int, member_of_month, month_of) -> tuple[dict, int]:
        """Line-level columns of every claim (originals plus later adjustments and reversals)."""
        if not self.claims:
            return {}, next_claim
        c = {k: np.concatenate([d[k] for d in self.claims]) for k in self.claims[0]}
        ln = {k: np.concatenate([d[k] for d in self.lines]) for k in self.lines[0]}
        order = np.argsort(ln["claim"], kind="stable")
        ln = {k: v[order] for k, v in ln.items()}
        C = len(c["person"])
        ci = ln["claim"]
        L = len(ci)
        first = np.searchsorted(ci, np.arange(C))
        line_no = (np.arange(L) - first[ci] + 1).astype(np.int32)
        inst = c["ctype"] == INSTITUTIONAL
        lag = np.where(inst, 12 + rng.gamma(2.2, 16.0, C), 4 + rng.gamma(2.0, 7.0, C)).astype(np.int32)
        paid_date = c["end"] + lag
        status = np.where(rng.random(C) < P_DENIED, DENIED, PAID).astype(np.int8)
        ratio = rng.uniform(0.35, 0.65, C)
        charge = np.round(ln["charge"] * ln["units"] * rng.lognormal(0.0, 0.2, L), 2)
        allowed = np.round(charge * ratio[ci], 2)
        paid = np.where(status[ci] == DENIED, 0.0, allowed)
        allowed = np.where(status[ci] == DENIED, 0.0, allowed)
        dotted = rng.random(C) < P_DOTTED
        member = member_of_month[c["person"], month_of(c["start"])]
        claim_num = next_claim + np.arange(C, dtype=np.int64)
        out = dict(claim_num=claim_num[ci], line=line_no, ctype=c["ctype"][ci], person=c["person"][ci],
                   member=member[ci], start=c["start"][ci], end=c["end"][ci], lstart=ln["lstart"], lend=ln["lend"],
                   adm=c["adm"][ci], dis=c["dis"][ci], admit_type=c["admit_type"][ci],
                   admit_source=c["admit_source"][ci], disch=c["disch"][ci], pos=c["pos"][ci], bill=c["bill"][ci],
                   rev=ln["rev"], hcpcs=ln["hcpcs"], rendering=c["rendering"][ci], billing=c["billing"][ci],
                   facility=c["facility"][ci], paid_date=paid_date[ci], paid=paid, allowed=allowed, charge=charge,
                   dx=c["dx"][ci], dotted=dotted[ci], status=status[ci], seq=np.zeros(L, np.int8))
        # About 3% of paid claims come back later: re-priced (sequence 1) or reversed.
        u = rng.random(C)
        adj = (status == PAID) & (u < P_ADJUSTED + P_REVERSED)
        if adj.any():
            rev = adj & (u < P_REVERSED)
            pick = adj[ci]
            extra = {k: v[pick] for k, v in out.items()}
            cl = ci[pick]
            extra["seq"] = np.ones(len(cl), np.int8)
            extra["paid_date"] = paid_date[cl] + rng.integers(15, 120, C)[cl]
            factor = np.where(rev[cl], -1.0, rng.uniform(0.8, 1.15, C)[cl])
            for k in ("paid", "allowed", "charge"):
                extra[k] = np.round(extra[k] * factor, 2)
            extra["status"] = np.where(rev[cl], REVERSED, PAID).astype(np.int8)
            out = {k: np.concatenate([out[k], extra[k]]) for k in out}
        return out, next_claim + C


def _dx(C: int) -> np.ndarray:
    return np.full((C, N_DX), -1, np.int32)


def _fill_secondary(dx, persons, mo: Month, tr: PersonTraits, codes: Codes, rng, p_cond=0.5, p_bh=0.35) -> None:
    """Add the person's chronic, BH and (rarely: under-coded) social codes after dx 1."""
    C = len(persons)
    slot = (dx >= 0).sum(1).astype(np.int32)

    def put(mask, values):
        nonlocal slot
        ok = mask & (slot < N_DX)
        dx[np.flatnonzero(ok), slot[ok]] = values[ok]
        slot = slot + ok

    cc = tr.cond_code[persons]
    put((cc[:, 0] >= 0) & (rng.random(C) < p_cond), cc[:, 0])
    put((cc[:, 1] >= 0) & (rng.random(C) < p_cond * 0.6), cc[:, 1])
    bh = mo.bh[persons]
    put((bh >= 1) & (tr.bh_code[persons] >= 0) & (rng.random(C) < p_bh * tr.engagement[persons]), tr.bh_code[persons])
    soc = mo.social[persons]
    sd = codes.pick(codes.dx_sdoh_all, rng, C)
    put(rng.random(C) < np.select([soc == 2, soc == 1], [0.06, 0.02], 0.002), sd)
    _dedupe(dx)


def _dedupe(dx: np.ndarray) -> None:
    """A claim lists each code once, with no gaps between its diagnosis positions."""
    for j in range(1, dx.shape[1]):
        for i in range(j):
            dx[dx[:, j] == dx[:, i], j] = -1
    order = np.argsort(dx < 0, axis=1, kind="stable")
    dx[:] = np.take_along_axis(dx, order, axis=1)


def outpatient(mo: Month, tr: PersonTraits, codes: Codes, prov: Providers, cb: ClaimBuilder) -> dict:
    """Well-child, sick, specialist, BH and dental visits. Returns well-child visits (for screening)."""
    rng = mo.rng
    age = mo.age
    child = tr.is_child & (age < 21)
    # Well-child periodicity (Bright Futures: ~6 visits in year one, 3 in year two, then yearly),
    # kept by engaged families more than others.
    well_rate = np.where(child, np.select([age < 1, age < 3, age < 6], [0.5, 0.22, 0.1], 0.065), 0.018)
    well_rate = well_rate * (0.45 + 0.55 * tr.engagement)
    p = _poisson_persons(mo, well_rate)
    C = len(p)
    day = _days(mo, rng, C)
    band = np.searchsorted(np.array([1, 5, 12, 18]), age[p], side="right")
    new = rng.random(C) < 0.08
    cpt = np.where(new, codes.well_new[band], codes.well_est[band])
    dx = _dx(C)
    newborn = age[p] < 28 / 365.25
    dx[:, 0] = np.select([newborn, age[p] >= 18], [codes.pick(codes.dx_well_newborn, rng, C), codes.pick(codes.dx_well_adult, rng, C)],
                         codes.pick(codes.dx_well_child, rng, C))
    _fill_secondary(dx, p, mo, tr, codes, rng, p_cond=0.4, p_bh=0.3)
    cb.add(person=p, start=day, end=day, ctype=PROFESSIONAL, dx=dx, line_claim=np.arange(C), line_hcpcs=cpt,
           line_charge=np.full(C, CHARGE["well"]), pos=codes.pos_office, rendering=tr.pcp[p])
    well = dict(person=p, day=day)

    # Sick visits: common colds and ear infections, more during a flare of a chronic condition.
    sick_rate = np.where(tr.is_child, 0.14, 0.2) * (1 + 2.0 * mo.flare) + 0.05 * (tr.pmca > 0)
    p = _poisson_persons(mo, sick_rate)
    C = len(p)
    day = _days(mo, rng, C)
    dx = _dx(C)
    cc = tr.cond_code[p, 0]
    flare = mo.flare[p] == 1
    kind = rng.random(C)
    dx[:, 0] = np.select([flare & (cc >= 0), (kind < 0.2) & (cc >= 0), kind < 0.3],
                         [cc, cc, codes.pick(codes.dx_injury, rng, C)], codes.pick(codes.dx_acute, rng, C))
    _fill_secondary(dx, p, mo, tr, codes, rng, p_cond=0.3, p_bh=0.25)
    level = codes.office_est[np.minimum(rng.binomial(3, 0.35, C) + flare, len(codes.office_est) - 1)]
    tele = rng.random(C) < 0.06
    pos = np.where(tele, codes.pos_telehealth[0], codes.pos_office)
    cb.add(person=p, start=day, end=day, ctype=PROFESSIONAL, dx=dx, line_claim=np.arange(C), line_hcpcs=level,
           line_charge=np.full(C, CHARGE["office"]), pos=pos, rendering=tr.pcp[p])

    # Specialist follow-up of chronic conditions.
    spec_rate = np.select([tr.pmca == 2, tr.pmca == 1], [0.3, 0.09], 0.0) * (1 + mo.flare) * (0.5 + 0.5 * tr.engagement)
    p = _poisson_persons(mo, spec_rate)
    C = len(p)
    day = _days(mo, rng, C)
    dx = _dx(C)
    second = (tr.cond_code[p, 1] >= 0) & (rng.random(C) < 0.4)
    dx[:, 0] = np.where(second, tr.cond_code[p, 1], tr.cond_code[p, 0])
    _fill_secondary(dx, p, mo, tr, codes, rng, p_cond=0.3, p_bh=0.1)
    level = codes.office_est[1 + rng.binomial(2, 0.5, C)]
    spec = prov.rendering["specialist"]
    cb.add(person=p, start=day, end=day, ctype=PROFESSIONAL, dx=dx, line_claim=np.arange(C), line_hcpcs=level,
           line_charge=np.full(C, CHARGE["specialist"]), pos=codes.pos_office,
           rendering=spec[(p * 7 + rng.integers(0, 2, C)) % len(spec)])

    # Outpatient behavioural health: therapy while an episode lasts, if the family engages.
    bh_rate = np.array([0.0, 0.55, 1.4, 1.6])[mo.bh] * tr.engagement + 0.3 * tr.adult_bh
    p = _poisson_persons(mo, bh_rate)
    C = len(p)
    day = _days(mo, rng, C)
    dx = _dx(C)
    noisy = rng.random(C)
    grp = tr.bh_group[p]
    alt = np.array([g[rng.integers(0, len(g))] for g in codes.dx_bh], np.int32)[grp] if C else np.zeros(0, np.int32)
    dx[:, 0] = np.select([noisy < 0.1, noisy < 0.2], [codes.pick(codes.dx_bh_other, rng, C), alt], tr.bh_code[p])
    si = (mo.bh[p] >= 2) & (rng.random(C) < 0.12)
    dx[si, 1] = codes.pick(codes.dx_ideation, rng, int(si.sum()))
    sd = (mo.social[p] >= 1) & (rng.random(C) < 0.08)
    dx[sd & (dx[:, 1] < 0), 1] = codes.pick(codes.dx_sdoh_all, rng, int((sd & (dx[:, 1] < 0)).sum()))
    _dedupe(dx)
    cpt = np.where(rng.random(C) < 0.1, codes.pick(codes.bh_eval, rng, C), codes.pick(codes.bh_cpt, rng, C))
    bhp = prov.rendering["bh"]
    pos = np.select([rng.random(C) < 0.3, rng.random(C) < 0.15], [codes.pos_cmhc, codes.pos_telehealth[-1]], codes.pos_office)
    cb.add(person=p, start=day, end=day, ctype=PROFESSIONAL, dx=dx, line_claim=np.arange(C), line_hcpcs=cpt,
           line_charge=np.full(C, CHARGE["bh"]), pos=pos, rendering=bhp[(p * 13) % len(bhp)])

    # Dental: exam, cleaning and fluoride for children from age one.
    dent_rate = np.where(tr.is_child, np.where(age >= 1, 0.1, 0.0), 0.025)
    p = _poisson_persons(mo, dent_rate)
    C = len(p)
    day = _days(mo, rng, C)
    dx = _dx(C)
    dx[:, 0] = codes.pick(codes.dx_dental, rng, C)
    kid = tr.is_child[p] & (age[p] < 21)
    n_lines = 1 + (rng.random(C) < 0.85) + (kid & (rng.random(C) < 0.6))
    lc = np.repeat(np.arange(C), n_lines)
    k = np.arange(len(lc)) - np.repeat(np.cumsum(n_lines) - n_lines, n_lines)
    prophy = np.where(kid, codes.pick(codes.dental_prophy_child, rng, C), codes.pick(codes.dental_prophy_adult, rng, C))
    hc = np.select([k == 0, k == 1], [codes.pick(codes.dental_exam, rng, C)[lc], prophy[lc]],
                   codes.pick(codes.dental_fluoride, rng, C)[lc])
    dent = prov.rendering["dentist"]
    cb.add(person=p, start=day, end=day, ctype=PROFESSIONAL, dx=dx, line_claim=lc, line_hcpcs=hc,
           line_charge=np.full(len(lc), CHARGE["dental"]), pos=codes.pos_office, rendering=dent[(p * 3) % len(dent)])
    return well


def acute(mo: Month, ev_person, ev_kind, ev_day, tr: PersonTraits, codes: Codes, prov: Providers, cb: ClaimBuilder) -> dict:
    """ED visits and inpatient stays of enrolled persons: claims, and ADT rows for the ED."""
    rng = mo.rng
    hosp_w = np.linspace(2.0, 0.6, len(prov.hospitals))
    adt = []

    # --- ED visits
    ed = (ev_kind == ED_BH) | (ev_kind == ED_OTHER)
    p, kind, day = ev_person[ed], ev_kind[ed], ev_day[ed]
    C = len(p)
    hosp = rng.choice(len(prov.hospitals), size=C, p=hosp_w / hosp_w.sum())
    bhv = kind == ED_BH
    dx = _dx(C)
    u = rng.random(C)
    cc = tr.cond_code[p, 0]
    flare = (mo.flare[p] == 1) & (cc >= 0)
    dx_bh = np.select([u < 0.45, u < 0.6], [codes.pick(codes.dx_suicidal, rng, C), codes.pick(codes.dx_self_harm, rng, C)],
                      np.where(tr.bh_code[p] >= 0, tr.bh_code[p], codes.pick(codes.dx_bh_other, rng, C)))
    dx_med = np.select([flare, u < 0.4], [cc, codes.pick(codes.dx_injury, rng, C)], codes.pick(codes.dx_acute, rng, C))
    reason = np.select([bhv, flare, u < 0.4], [3, 2, 1], 0)
    dx[:, 0] = np.where(bhv, dx_bh, dx_med)
    dx[bhv & (tr.bh_code[p] >= 0), 1] = tr.bh_code[p][bhv & (tr.bh_code[p] >= 0)]
    _fill_secondary(dx, p, mo, tr, codes, rng, p_cond=0.3, p_bh=0.2)
    mal = (rng.random(C) < np.where(mo.social[p] == 2, 0.03, 0.002) + 0.01 * tr.foster[p]) & ~bhv
    dx[mal, N_DX - 1] = codes.pick(codes.dx_maltreatment, rng, int(mal.sum()))
    _dedupe(dx)
    level = np.minimum(rng.binomial(4, 0.55, C) + bhv, 4)
    billed = rng.random(C) < P_ED_CLAIM
    fac = prov.hospitals[hosp]
    b = np.flatnonzero(billed)
    if len(b):
        nb = len(b)
        n_lines = 1 + (rng.random(nb) < 0.55) + (rng.random(nb) < 0.3)
        lc = np.repeat(np.arange(nb), n_lines)
        k = np.arange(len(lc)) - np.repeat(np.cumsum(n_lines) - n_lines, n_lines)
        rev = np.where(k == 0, codes.ed_rev_main, codes.rev_ancillary[np.minimum(k, 2)][:] if len(k) else k)
        rev = np.where((k == 0) & (rng.random(len(k)) < 0.05), codes.pick(codes.ed_rev_other, rng, len(k)), rev)
        hc = np.where(k == 0, codes.ed_cpt[level[b]][lc], -1)
        ch = np.where(k == 0, CHARGE["ed_facility"], CHARGE["ancillary"])
        cb.add(person=p[b], start=day[b], end=day[b], ctype=INSTITUTIONAL, dx=dx[b], line_claim=lc, line_rev=rev,
               line_hcpcs=hc, line_charge=ch, bill=codes.bill_op, facility=fac[b])
        prof = b[rng.random(nb) < 0.9]
        edp = prov.rendering["ed"]
        cb.add(person=p[prof], start=day[prof], end=day[prof], ctype=PROFESSIONAL, dx=dx[prof],
               line_claim=np.arange(len(prof)), line_hcpcs=codes.ed_cpt[level[prof]],
               line_charge=np.full(len(prof), CHARGE["ed_prof"]), pos=codes.pos_ed,
               rendering=edp[(hosp[prof] * 5 + rng.integers(0, 5, len(prof))) % len(edp)])
    sent = prov.hospital_adt[hosp] & (rng.random(C) < P_ADT_SENT)
    disp = np.select([rng.random(C) < 0.04, rng.random(C) < 0.03], [3, 2], 0)
    adt.append(dict(person=p[sent], day=day[sent], hosp=hosp[sent], dx=dx[sent, :3], reason=reason[sent],
                    disposition=disp[sent].astype(np.int8)))

    # --- inpatient stays (medical and psychiatric)
    ip = (ev_kind == IP_MED) | (ev_kind == IP_PSY)
    p, kind, day = ev_person[ip], ev_kind[ip], ev_day[ip]
    C = len(p)
    psy = kind == IP_PSY
    los = np.where(psy, 3 + rng.poisson(5.0, C), 1 + rng.poisson(np.where(tr.pmca[p] == 2, 4.0, 2.0)))
    dis = day + los
    via_ed = rng.random(C) < np.where(psy, 0.7, 0.5)
    hosp = rng.choice(len(prov.hospitals), size=C, p=hosp_w / hosp_w.sum())
    dx = _dx(C)
    cc = tr.cond_code[p, 0]
    dx_bh = np.where(tr.bh_code[p] >= 0, tr.bh_code[p], codes.pick(codes.dx_bh_other, rng, C))
    dx[:, 0] = np.where(psy, dx_bh, np.where(cc >= 0, cc, codes.pick(codes.dx_acute, rng, C)))
    si = psy & (rng.random(C) < 0.5)
    dx[si, 1] = codes.pick(codes.dx_suicidal, rng, int(si.sum()))
    _dedupe(dx)
    _fill_secondary(dx, p, mo, tr, codes, rng, p_cond=0.5, p_bh=0.3)
    # lines: room and board (units = days), ancillaries, an ED line when admitted through the ED
    n_lines = 1 + 2 + via_ed
    lc = np.repeat(np.arange(C), n_lines)
    k = np.arange(len(lc)) - np.repeat(np.cumsum(n_lines) - n_lines, n_lines)
    rb = np.where(psy, codes.pick(codes.rb_psych, rng, C), codes.pick(codes.rb_medical, rng, C))
    rev = np.select([k == 0, k == 1, k == 2], [rb[lc], codes.rev_ancillary[0], codes.rev_ancillary[1]], codes.ed_rev_main)
    units = np.where(k == 0, los[lc], 1)
    ch = np.select([k == 0, k == 3], [np.where(psy, CHARGE["psych_day"], CHARGE["room_board"])[lc], CHARGE["ed_facility"]],
                   CHARGE["ancillary"] * 2)
    fac = prov.hospitals[hosp]
    cb.add(person=p, start=day, end=dis, ctype=INSTITUTIONAL, dx=dx, line_claim=lc, line_rev=rev, line_units=units,
           line_charge=ch, bill=codes.bill_ip, facility=fac, adm=day, dis=dis,
           admit_type=np.where(via_ed, codes.admit_emergency, np.where(psy, codes.admit_urgent, codes.admit_elective)),
           admit_source=np.where(via_ed, codes.source_er, codes.source_referral),
           disch=np.where(rng.random(C) < 0.9, codes.disch_home, codes.disch_home_health))
    # attending physician: initial day, subsequent days (up to three), discharge
    n_days = 2 + np.minimum(los - 1, 3)
    lc = np.repeat(np.arange(C), n_days)
    k = np.arange(len(lc)) - np.repeat(np.cumsum(n_days) - n_days, n_days)
    last = k == n_days[lc] - 1
    hc = np.select([k == 0, last], [codes.pick(codes.ip_initial, rng, len(lc)), codes.pick(codes.ip_discharge, rng, len(lc))],
                   codes.pick(codes.ip_subsequent, rng, len(lc)))
    lday = np.where(last, dis[lc], day[lc] + k)
    hosp_md = prov.rendering["hospitalist"]
    cb.add(person=p, start=day, end=dis, ctype=PROFESSIONAL, dx=dx, line_claim=lc, line_hcpcs=hc,
           line_charge=np.full(len(lc), CHARGE["ip_prof"]), pos=codes.pos_inpatient,
           rendering=np.where(psy, prov.rendering["bh"][p % len(prov.rendering["bh"])], hosp_md[(hosp * 3) % len(hosp_md)]),
           line_start=lday, line_end=lday)
    sent = via_ed & prov.hospital_adt[hosp] & (rng.random(C) < P_ADT_SENT)
    adt.append(dict(person=p[sent], day=day[sent], hosp=hosp[sent], dx=dx[sent, :3],
                    reason=np.where(psy, 3, np.where(cc >= 0, 2, 0))[sent], disposition=np.ones(int(sent.sum()), np.int8)))
    return {k: np.concatenate([a[k] for a in adt]) for k in adt[0]}


def adt_rows(mo: Month, adt: dict, member_of_month, month_of, rng, next_visit: int) -> tuple[dict, int]:
    """ADT messages: arrival, discharge and when the feed sent the message (hours to ~10 days)."""
    n = len(adt["person"])
    hour = np.clip(rng.normal(15.0, 5.0, n), 0, 23.99)
    arrival = adt["day"].astype(np.int64) * 86400 + (hour * 3600).astype(np.int64)
    lwbs = adt["disposition"] == 3
    stay = np.where(lwbs, rng.uniform(0.5, 2.0, n), rng.gamma(3.0, 1.6, n) + 1.0)
    discharge = arrival + (stay * 3600).astype(np.int64)
    delay_h = np.minimum(rng.lognormal(np.log(10.0), 1.3, n), 240.0)
    message = discharge + (delay_h * 3600).astype(np.int64)
    sizes = np.array([len(c) for c in ref.CHIEF_COMPLAINTS])
    offset = np.r_[0, np.cumsum(sizes)[:-1]]
    r = adt["reason"]
    complaint = offset[r] + (rng.random(n) * sizes[r]).astype(np.int64)
    dx = adt["dx"].copy()
    dx[rng.random(n) < 0.35, :] = -1        # many feeds send no diagnosis at all
    dx[:, 1:][rng.random((n, 2)) < 0.5] = -1
    member = member_of_month[adt["person"], month_of(adt["day"])]
    out = dict(visit=next_visit + np.arange(n, dtype=np.int64), person=adt["person"], member=member, hosp=adt["hosp"],
               arrival=arrival, discharge=discharge, message=message, complaint=complaint, dx=dx,
               disposition=adt["disposition"], no_person=rng.random(n) < 0.06, dotted=rng.random(n) < 0.5,
               msg_day=(message // 86400).astype(np.int32))
    return out, next_visit + n
