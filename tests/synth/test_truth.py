"""The truth: shapes, the exactness of the recursion, calibration and discrimination of each
outcome's probability."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from sklearn.metrics import roc_auc_score

from riskstrat.features import codesets
from riskstrat.synth import latent as lt
from riskstrat.synth.population import build_population

OUTCOMES = ("acute_event", "bh_crisis", "cares_acute")


def outcome_rules(n: np.ndarray) -> dict[str, np.ndarray]:
    """Each outcome, as the programmes define it, from event counts in the window ((..., kinds) in
    the order of lt.KINDS); written out here, not read from lt.OUTCOMES, so a wrong declaration fails."""
    ed = n[..., lt.ED_BH] + n[..., lt.ED_OTHER]
    return {
        "acute_event": (n[..., lt.IP_MED] + n[..., lt.IP_PSY] + n[..., lt.ED_BH] > 0) | (ed >= 2),
        "bh_crisis": n[..., lt.IP_PSY] + n[..., lt.ED_BH] > 0,
        "cares_acute": (n[..., lt.IP_MED] + n[..., lt.IP_PSY] > 0) | (ed >= 2),
    }


@pytest.fixture(scope="module")
def truth(plan):
    return {n: pq.read_table(plan / "truth" / f"{n}.parquet").to_pandas() for n in ("risk", "events", "persons", "defects")}


@pytest.fixture(scope="module")
def realised(sf, truth) -> pd.DataFrame:
    """Enrolled child-months whose six-month outcome window lies inside the plan, with whether
    each outcome happened (columns y_<outcome>)."""
    risk, ev = truth["risk"], truth["events"]
    labels = sf.MAIN.delivery_labels()
    index = {m: i for i, m in enumerate(labels)}
    ev = ev.assign(mi=pd.to_datetime(ev["date"]).dt.strftime("%Y-%m").map(index)).dropna(subset=["mi"])
    ev["mi"] = ev["mi"].astype(int)
    per_month = ev.groupby(["person_id", "mi"])["kind"].value_counts().unstack(fill_value=0)
    per_month = per_month.reindex(columns=list(lt.KINDS), fill_value=0)
    r = risk[risk["enrolled"]].assign(mi=risk["month"].map(index))
    r = r[r["mi"] <= len(labels) - 7].reset_index(drop=True)
    n = np.zeros((len(r), len(lt.KINDS)))
    for k in range(1, 7):
        key = pd.MultiIndex.from_arrays([r["person_id"], r["mi"] + k])
        n += per_month.reindex(key, fill_value=0).to_numpy()
    return r.assign(**{f"y_{name}": y for name, y in outcome_rules(n).items()})


def test_truth_tables_have_their_shapes(sf, truth):
    risk = truth["risk"]
    assert list(risk.columns) == ["person_id", "month", "age", "enrolled", "p_acute_event", "p_bh_crisis",
                                  "p_cares_acute"], "one probability per outcome, p_true gone"
    assert list(lt.OUTCOMES) == list(OUTCOMES)
    assert set(risk["month"]) == set(sf.MAIN.delivery_labels())
    assert risk["age"].between(0, 20).all()
    for name in OUTCOMES:
        assert risk[f"p_{name}"].between(0, 1).all() and risk[f"p_{name}"].std() > 0.01, name
    assert not risk.duplicated(["person_id", "month"]).any()
    assert (~risk["enrolled"]).any(), "children out of the plan keep their truth rows"
    assert set(truth["events"]["kind"]) == {"ip_medical", "ip_psych", "ed_bh", "ed_other"}
    assert list(truth["events"].columns) == ["person_id", "date", "kind", "enrolled"]
    assert {"person_id", "pmca_class", "bh_liability", "care_engagement"} <= set(truth["persons"].columns)
    assert list(truth["defects"].columns) == ["table", "delivery_month", "file", "row", "column", "kind"]
    assert len(truth["defects"]) == 0


def test_outcomes_nested_in_acute_event_have_no_higher_probability(truth):
    """Every BH crisis and every CARES outcome is an acute event, so in every row, exactly."""
    risk = truth["risk"]
    assert (risk["p_bh_crisis"] <= risk["p_acute_event"]).all()
    assert (risk["p_cares_acute"] <= risk["p_acute_event"]).all()
    # ... and neither is the acute event under another name.
    assert (risk["p_bh_crisis"] < risk["p_acute_event"]).mean() > 0.99
    assert (risk["p_cares_acute"] < risk["p_acute_event"]).mean() > 0.99


@pytest.mark.parametrize("name", OUTCOMES)
def test_each_probability_is_calibrated_on_its_own_outcome_and_separates_children(realised, name):
    p, y = realised[f"p_{name}"].to_numpy(), realised[f"y_{name}"].to_numpy()
    # The child-months of one child are correlated: the standard error of the mean difference
    # sums each child's residuals first (siblings share a household, so allow 4 of them).
    resid = pd.Series(y - p).groupby(realised["person_id"]).sum().to_numpy()
    se = np.sqrt((resid ** 2).sum()) / len(p)
    assert abs(y.mean() - p.mean()) < 4 * se, (name, y.mean(), p.mean(), se)
    auc = roc_auc_score(y, p)
    assert 0.6 < auc < 0.99, (name, auc)


def test_self_harm_is_coded_only_on_the_claims_of_a_bh_ed_visit_or_psychiatric_stay(plan, sf, truth):
    """What lets the recursion leave self-harm codes out of bh_crisis: every child's claim coding
    self-harm or a suicide attempt is that of an ed_bh or ip_psych event on its start date."""
    ev = truth["events"][truth["events"]["kind"].isin(["ed_bh", "ip_psych"])]
    crisis = set(zip(ev["person_id"], pd.to_datetime(ev["date"]).dt.strftime("%Y-%m-%d")))
    children = set(truth["persons"]["person_id"])
    coded = set()
    for folder in sorted((plan / "landing").iterdir()):
        _, rows, _ = sf.read_rows(sf.find_file(folder, "medical_claim"))
        for r in rows:
            if r["person_id"] in children and any(
                    r[f"diagnosis_code_{i}"] and "self_harm" in codesets.groups_for_code(
                        "icd10cm_suicide_self_harm", codesets.normalize_icd(r[f"diagnosis_code_{i}"]))
                    for i in range(1, 5)):
                coded.add((r["person_id"], r["claim_start_date"]))
    assert len(coded) >= 10
    assert coded <= crisis, sorted(coded - crisis)[:5]


@pytest.mark.parametrize("start", [(2, 0, 1), (0, 1, 2)])
def test_recursion_matches_a_monte_carlo_of_the_chain(start):
    """The exact P(outcome), for every outcome, equals its frequency in many simulated futures of
    the same children from a state (bh, flare, social): moderate BH in a strained household, and
    a flare in a household in crisis."""
    rng = np.random.default_rng(3)
    from riskstrat.synth.spec import PlanSpec
    pop = build_population(PlanSpec(members=400, months=6, seed=3), rng)
    tr = lt.assign_traits(pop, rng)
    cp = lt.chain_params(pop, tr)
    V = lt.outcome_probability(tr, cp, lt.OUTCOMES.values())
    # pick children with high liability and chronic illness so outcomes are frequent enough
    score = tr.bh_liability + (tr.pmca == 2) + tr.ed_propensity
    chosen = np.argsort(-score)[:4]
    reps = 40_000
    idx = np.repeat(chosen, reps)
    sub = lt.ChildTraits(**{k: (v[idx] if isinstance(v, np.ndarray) else v) for k, v in tr.__dict__.items()})
    sub.hh = np.arange(len(idx))                  # one private copy of the household per replicate
    cps = lt.ChainParams(p_social=cp.p_social[tr.hh[idx]], p_flare=cp.p_flare[idx], p_bh=cp.p_bh[idx])
    st = lt.ChainState(social=np.full(len(idx), start[2], np.int8), bh=np.full(len(idx), start[0], np.int8),
                       flare=np.full(len(idx), start[1], np.int8))
    alive = np.ones(len(idx), bool)
    n = np.zeros((len(idx), len(lt.KINDS)))
    for _ in range(lt.HORIZON):
        st = lt.step(st, sub, cps, rng)
        alive &= rng.random(len(idx)) >= sub.death_hazard
        n += rng.poisson(lt.event_rates(sub, st.bh, st.flare, st.social[sub.hh])) * alive[:, None]
    for name, y in outcome_rules(n).items():
        freq = y.reshape(len(chosen), reps).mean(1)
        exact = V[chosen, start[0], start[1], start[2], list(lt.OUTCOMES).index(name)]
        se = np.sqrt(exact * (1 - exact) / reps)
        assert np.all(np.abs(freq - exact) < 4.5 * se + 1e-4), (name, freq, exact)
