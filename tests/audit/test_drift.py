"""PSI on distributions whose value is known, worked out by hand here."""

import json
import math

import numpy as np
import pandas as pd
import pytest

from riskstrat.audit import drift as D

EPS = D.EPSILON


def test_identical_distributions_give_zero():
    rng = np.random.default_rng(0)
    x = pd.Series(rng.normal(size=5000))
    assert D.psi(x, x) == 0.0
    assert D.psi(x, x.sample(frac=1.0, random_state=1)) == 0.0  # order does not matter
    cats = pd.Series(["a", "b", "c"] * 100)
    assert D.psi(cats, cats) == 0.0


def test_decile_bins_on_integers_and_a_known_shift():
    reference = pd.Series(np.repeat(np.arange(10), 100))  # 0..9, 10% each: one decile bin per value
    prof = D.profile_column(reference, "x")
    assert prof.edges == [0, 1, 2, 3, 4, 5, 6, 7, 8]
    assert prof.shares == pytest.approx([0.1] * 10)
    # Current: 20% zeros, no nines, 10% each of 1..8.
    current = pd.Series(np.repeat(np.arange(10), [200] + [100] * 8 + [0]))
    expected = (0.2 - 0.1) * math.log(0.2 / 0.1) + (EPS - 0.1) * math.log(EPS / 0.1)
    assert expected == pytest.approx(0.759399, abs=1e-6)
    assert D.psi(reference, current) == pytest.approx(expected, abs=1e-12)


def test_a_count_that_is_mostly_zero_gets_one_bin_for_the_zeros():
    reference = pd.Series([0] * 850 + [1] * 100 + [2, 3, 4, 5, 7] * 10)
    prof = D.profile_column(reference, "ed_visits_12m")
    assert prof.edges == [0, 1]
    assert prof.labels == ["≤ 0", "(0, 1]", "> 1"]
    assert prof.shares == pytest.approx([0.85, 0.10, 0.05])
    current = pd.Series([0] * 700 + [1] * 200 + [3] * 100)
    expected = sum((c - r) * math.log(c / r) for r, c in [(0.85, 0.70), (0.10, 0.20), (0.05, 0.10)])
    assert D.psi(reference, current) == pytest.approx(expected, abs=1e-12)


def test_flag_features_and_constant_columns():
    flag = pd.Series([0] * 90 + [1] * 10)
    assert D.profile_column(flag).labels == ["≤ 0", "> 0"]
    const = pd.Series([3.0] * 50)
    prof = D.profile_column(const)
    assert prof.edges == [] and prof.shares == [1.0]
    assert D.psi(const, pd.Series([3.0, 4.0, 5.0])) == 0.0  # one bin: nothing to shift between


def test_categories_unseen_values_and_missing_values():
    reference = pd.Series(["a"] * 50 + ["b"] * 50)
    current = pd.Series(["a"] * 50 + ["b"] * 25 + ["c"] * 25)
    expected = (0.25 - 0.5) * math.log(0.25 / 0.5) + (0.25 - EPS) * math.log(0.25 / EPS)
    assert D.psi(reference, current) == pytest.approx(expected, abs=1e-12)
    numeric = pd.Series(np.repeat(np.arange(10), 10).astype(float))
    with_gaps = numeric.copy()
    with_gaps[:10] = np.nan  # the zeros stopped arriving
    expected = (EPS - 0.1) * math.log(EPS / 0.1) + (0.1 - EPS) * math.log(0.1 / EPS)
    assert D.psi(numeric, with_gaps) == pytest.approx(expected, abs=1e-12)


def test_thresholds_declared_once():
    assert [(s, w) for _, s, w in D.PSI_THRESHOLDS] == [("stable", False), ("moderate", True), ("major", True)]
    assert D.psi_status(0.0) == ("stable", False)
    assert D.psi_status(0.0999) == ("stable", False)
    assert D.psi_status(0.1) == ("moderate", True)
    assert D.psi_status(0.25) == ("major", True)
    assert D.psi_status(float("nan")) == ("no data", True)


def test_psi_table_tidy_with_status_and_stored_profiles():
    rng = np.random.default_rng(5)
    train = pd.DataFrame({"person_id": [f"p{i}" for i in range(4000)],
                          "age_years": rng.integers(0, 21, 4000),
                          "ed_visits_12m": rng.poisson(0.2, 4000),
                          "score": rng.beta(1, 30, 4000),
                          "aid_category": rng.choice(["tanf", "foster_care", "chip"], 4000, p=[0.8, 0.05, 0.15])})
    month = train.copy()
    month["ed_visits_12m"] = rng.poisson(0.6, 4000)  # ED use triples: a major shift
    table = D.psi_table(train, month, against="training")
    assert list(table.columns) == ["against", "column", "kind", "psi", "status", "warning", "bins",
                                   "largest_shift", "n_reference", "n_current"]
    assert set(table["column"]) == {"age_years", "ed_visits_12m", "score", "aid_category"}  # person_id is no feature
    top = table.iloc[0]
    assert top["column"] == "ed_visits_12m" and top["status"] == "major" and top["warning"]
    assert top["largest_shift"].startswith("≤ 0: ")
    assert table.set_index("column").loc["aid_category", "kind"] == "categorical"
    assert (table.set_index("column").loc[["age_years", "score", "aid_category"], "psi"] == 0).all()
    warnings = D.drift_warnings(table)
    assert len(warnings) == 1 and warnings[0].startswith("ed_visits_12m: PSI ") and "against training (major shift" in warnings[0]
    # A profile stored as JSON beside the model judges the same month the same way.
    stored = {c: D.BinProfile.from_dict(json.loads(json.dumps(p.to_dict()))) for c, p in D.profile(train).items()}
    again = D.psi_table(stored, month, against="training")
    pd.testing.assert_frame_equal(again, table)


def test_missing_column_is_named():
    with pytest.raises(ValueError, match="'score'"):
        D.psi_table(pd.DataFrame({"score": [0.1]}), pd.DataFrame({"x": [1]}))
