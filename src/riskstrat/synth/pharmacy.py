"""Pharmacy fills: monthly maintenance drugs with imperfect adherence, relievers during flares."""

from __future__ import annotations

import numpy as np

from riskstrat.synth.codes import Codes
from riskstrat.synth.encounters import DENIED, P_ADJUSTED, P_DENIED, P_REVERSED, PAID, REVERSED, Month, PersonTraits
from riskstrat.synth.providers import Providers


def fills(mo: Month, tr: PersonTraits, drugs: dict, codes: Codes, prov: Providers, pop, next_claim: int) -> tuple[dict, int]:
    """One month of fills. ``drugs`` holds per-person drug-group indices (-1 none):
    chronic1, chronic2, bh, reliever."""
    rng = mo.rng
    a = mo.active
    rows_p, rows_g, rows_kind = [], [], []
    for key in ("chronic1", "chronic2"):
        g = drugs[key][a]
        take = (g >= 0) & (rng.random(len(a)) < tr.adherence[a])
        rows_p.append(a[take]); rows_g.append(g[take]); rows_kind.append(np.zeros(int(take.sum()), np.int8))
    g = drugs["bh"][a]
    # Psychotropics while an episode lasts (adults with BH on their own schedule).
    on = (g >= 0) & ((mo.bh[a] >= 1) | tr.adult_bh[a]) & (rng.random(len(a)) < tr.adherence[a])
    rows_p.append(a[on]); rows_g.append(g[on]); rows_kind.append(np.ones(int(on.sum()), np.int8))
    g = drugs["reliever"][a]
    fl = (g >= 0) & ((mo.flare[a] == 1) & (rng.random(len(a)) < 0.8) | (rng.random(len(a)) < 0.04))
    rows_p.append(a[fl]); rows_g.append(g[fl]); rows_kind.append(np.zeros(int(fl.sum()), np.int8))
    p = np.concatenate(rows_p)
    grp = np.concatenate(rows_g)
    kind = np.concatenate(rows_kind)
    n = len(p)
    groups = codes.drug_groups
    sizes = np.array([len(codes.ndc_group[x]) for x in groups])
    offsets = np.r_[0, np.cumsum(sizes)[:-1]]
    flat = np.concatenate([codes.ndc_group[x] for x in groups])
    # Each person stays on one product per drug class (same NDC month after month).
    product = flat[offsets[grp] + (pop.person_num[p] * 7 + grp) % sizes[grp]]
    span = mo.end - mo.start
    day = mo.start + np.clip(pop.person_num[p] % 28 + rng.integers(-3, 4, n), 0, span).astype(np.int32)
    days_supply = codes.ndc_days[product]
    quantity = days_supply * rng.choice(np.array([1, 2]), size=n, p=[0.7, 0.3])
    refills = rng.integers(0, 6, n)
    paid_date = day + rng.choice(np.array([0, 0, 0, 1, 2, 3]), size=n)
    status = np.where(rng.random(n) < P_DENIED, DENIED, PAID).astype(np.int8)
    allowed = np.round(codes.ndc_unit_price[product] * quantity + 1.75, 2)
    allowed = np.where(status == DENIED, 0.0, allowed)
    prescriber = np.where(kind == 1, prov.rendering["bh"][p % len(prov.rendering["bh"])], tr.pcp[p])
    pharm = prov.rendering["pharmacy"]
    dispenser = pharm[(pop.hh[p] * 3 + rng.integers(0, 2, n)) % len(pharm)]
    member = pop.member_of_month[p, mo.m]
    out = dict(claim_num=next_claim + np.arange(n, dtype=np.int64), person=p.astype(np.int32), member=member,
               prescriber=prescriber.astype(np.int64), dispenser=dispenser.astype(np.int64), day=day, product=product,
               quantity=quantity.astype(np.int64), days_supply=days_supply.astype(np.int64), refills=refills.astype(np.int64),
               paid_date=paid_date.astype(np.int32), paid=allowed.copy(), allowed=allowed, status=status,
               seq=np.zeros(n, np.int8))
    u = rng.random(n)
    adj = (status == PAID) & (u < P_ADJUSTED + P_REVERSED)
    if adj.any():
        rev = u[adj] < P_REVERSED
        extra = {k: v[adj] for k, v in out.items()}
        extra["seq"] = np.ones(int(adj.sum()), np.int8)
        extra["paid_date"] = extra["paid_date"] + rng.integers(5, 60, int(adj.sum())).astype(np.int32)
        factor = np.where(rev, -1.0, rng.uniform(0.85, 1.1, int(adj.sum())))
        extra["paid"] = np.round(extra["paid"] * factor, 2)
        extra["allowed"] = np.round(extra["allowed"] * factor, 2)
        extra["status"] = np.where(rev, REVERSED, PAID).astype(np.int8)
        out = {k: np.concatenate([out[k], extra[k]]) for k in out}
    return out, next_claim + n
