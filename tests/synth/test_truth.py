"""The truth: shapes, the exactness of the recursion, calibration and discrimination of p_true."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from sklearn.metrics import roc_auc_score

from riskstrat.synth import latent as lt
from riskstrat.synth.population import build_population


@pytest.fixture(scope="module")
def truth(plan):
    return {n: pq.read_table(plan / "truth" / f"{n}.parquet").to_pandas() for n in ("risk", "events", "persons", "defects")}


def realised_outcomes(sf, truth) -> pd.DataFrame:
    """Enrolled child-months whose six-month outcome window lies inside the plan, with the outcome."""
    risk, ev = truth["risk"], truth["events"]
    labels = sf.MAIN.delivery_labels()
    index = {m: i for i, m in enumerate(labels)}
    ev = ev.assign(mi=pd.to_datetime(ev["date"]).dt.strftime("%Y-%m").map(index)).dropna(subset=["mi"])
    ev["mi"] = ev["mi"].astype(int)
    acute = ev[ev["kind"].isin(["ip_medical", "ip_psych", "ed_bh"])]
    eds = ev[ev["kind"].isin(["ed_bh", "ed_other"])]
    r = risk[risk["enrolled"]].assign(mi=risk["month"].map(index))
    r = r[r["mi"] <= len(labels) - 7].reset_index(drop=True)
    y = np.zeros(len(r), bool)
    for k in range(1, 7):
        key = pd.MultiIndex.from_arrays([r["person_id"], r["mi"] + k])
        a = acute.groupby(["person_id", "mi"]).size().reindex(key, fill_value=0).to_numpy()
        y |= a > 0
    ed_total = np.zeros(len(r))
    for k in range(1, 7):
        key = pd.MultiIndex.from_arrays([r["person_id"], r["mi"] + k])
        ed_total += eds.groupby(["person_id", "mi"]).size().reindex(key, fill_value=0).to_numpy()
    y |= ed_total >= 2
    return r.assign(outcome=y)


def test_truth_tables_have_their_shapes(sf, truth):
    risk = truth["risk"]
    assert list(risk.columns) == ["person_id", "month", "age", "enrolled", "p_true"]
    assert set(risk["month"]) == set(sf.MAIN.delivery_labels())
    assert risk["age"].between(0, 20).all()
    assert risk["p_true"].between(0, 1).all() and risk["p_true"].std() > 0.01
    assert not risk.duplicated(["person_id", "month"]).any()
    assert (~risk["enrolled"]).any(), "children out of the plan keep their truth rows"
    assert set(truth["events"]["kind"]) == {"ip_medical", "ip_psych", "ed_bh", "ed_other"}
    assert list(truth["events"].columns) == ["person_id", "date", "kind", "enrolled"]
    assert {"person_id", "pmca_class", "bh_liability", "care_engagement"} <= set(truth["persons"].columns)
    assert list(truth["defects"].columns) == ["table", "delivery_month", "file", "row", "column", "kind"]
    assert len(truth["defects"]) == 0


def test_p_true_is_calibrated_and_separates_children(sf, truth):
    r = realised_outcomes(sf, truth)
    p, y = r["p_true"].to_numpy(), r["outcome"].to_numpy()
    # Child-months of one child are correlated; a generous 4 standard errors of the mean.
    se = np.sqrt((p * (1 - p)).sum()) / len(p) * 3
    assert abs(y.mean() - p.mean()) < 4 * se, (y.mean(), p.mean())
    auc = roc_auc_score(y, p)
    assert 0.6 < auc < 0.99, auc


def test_recursion_matches_a_monte_carlo_of_the_chain():
    """The exact P(outcome) equals the frequency in many simulated futures of the same children."""
    rng = np.random.default_rng(3)
    from riskstrat.synth.spec import PlanSpec
    pop = build_population(PlanSpec(members=400, months=6, seed=3), rng)
    tr = lt.assign_traits(pop, rng)
    cp = lt.chain_params(pop, tr)
    V = lt.outcome_probability(tr, cp)
    # pick children with high liability and chronic illness so outcomes are frequent enough
    score = tr.bh_liability + (tr.pmca == 2) + tr.ed_propensity
    chosen = np.argsort(-score)[:4]
    reps = 40_000
    idx = np.repeat(chosen, reps)
    sub = lt.ChildTraits(**{k: (v[idx] if isinstance(v, np.ndarray) else v) for k, v in tr.__dict__.items()})
    sub.hh = np.arange(len(idx))                  # one private copy of the household per replicate
    cps = lt.ChainParams(p_social=cp.p_social[tr.hh[idx]], p_flare=cp.p_flare[idx], p_bh=cp.p_bh[idx])
    start = (2, 0, 1)                             # moderate BH, no flare, strained household
    st = lt.ChainState(social=np.full(len(idx), start[2], np.int8), bh=np.full(len(idx), start[0], np.int8),
                       flare=np.full(len(idx), start[1], np.int8))
    alive = np.ones(len(idx), bool)
    acute = np.zeros(len(idx), bool)
    eds = np.zeros(len(idx))
    for _ in range(lt.HORIZON):
        st = lt.step(st, sub, cps, rng)
        alive &= rng.random(len(idx)) >= sub.death_hazard
        n = rng.poisson(lt.event_rates(sub, st.bh, st.flare, st.social[sub.hh])) * alive[:, None]
        acute |= (n[:, lt.IP_MED] + n[:, lt.IP_PSY] + n[:, lt.ED_BH]) > 0
        eds += n[:, lt.ED_BH] + n[:, lt.ED_OTHER]
    y = (acute | (eds >= 2)).reshape(len(chosen), reps).mean(1)
    exact = V[chosen, start[0], start[1], start[2]]
    se = np.sqrt(exact * (1 - exact) / reps)
    assert np.all(np.abs(y - exact) < 4.5 * se + 1e-4), (y, exact)
