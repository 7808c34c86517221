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
    assert prof.labels == ["≤ 0", "1", "≥ 2"]
    assert prof.shares == pytest.approx([0.85, 0.10, 0.05])
    current = pd.Series([0] * 700 + [1] * 200 + [3] * 100)
    expected = sum((c - r) * math.log(c / r) for r, c in [(0.85, 0.70), (0.10, 0.20), (0.05, 0.10)])
    assert D.psi(reference, current) == pytest.approx(expected, abs=1e-12)


def test_flag_features_and_constant_columns():
    flag = pd.Series([0] * 90 + [1] * 10)
    assert D.profile_column(flag).labels == ["≤ 0", "≥ 1"]
    const = pd.Series([3.0] * 50)
    prof = D.profile_column(const)
    # one value, and an empty bin above it where a change shows: one bin of "all" read 100% -> 100%
    assert prof.edges == [3.0] and prof.labels == ["≤ 3", "≥ 4"] and prof.shares == [1.0, 0.0]
    assert D.psi(const, pd.Series([3.0] * 49 + [4.0])) > 0.05
    assert D.psi(const, pd.Series([3.0] * 50)) == 0.0


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
    assert list(table.columns) == ["against", "column", "kind", "psi", "status", "warning", "warn_at", "alert_at",
                                   "bins", "largest_shift", "n_reference", "n_current"]
    assert set(table["column"]) == {"age_years", "ed_visits_12m", "score", "aid_category"}  # person_id is no feature
    top = table.iloc[0]
    assert top["column"] == "ed_visits_12m" and top["status"] == "major" and top["warning"]
    assert top["largest_shift"].startswith("≤ 0: ")
    assert table.set_index("column").loc["aid_category", "kind"] == "categorical"
    assert (table.set_index("column").loc[["age_years", "score", "aid_category"], "psi"] == 0).all()
    warnings = D.drift_warnings(table)
    assert len(warnings) == 1 and warnings[0].startswith("ed_visits_12m: PSI ")
    assert "against training (major shift, warns from 0.1;" in warnings[0]
    # A profile stored as JSON beside the model judges the same month the same way.
    stored = {c: D.BinProfile.from_dict(json.loads(json.dumps(p.to_dict()))) for c, p in D.profile(train).items()}
    again = D.psi_table(stored, month, against="training")
    pd.testing.assert_frame_equal(again, table)


def test_missing_column_is_named():
    with pytest.raises(ValueError, match="'score'"):
        D.psi_table(pd.DataFrame({"score": [0.1]}), pd.DataFrame({"x": [1]}))


def test_bin_labels_read_as_people_write_numbers():
    assert D.edge_labels([0, 2, 5], integer=True) == ["≤ 0", "1–2", "3–5", "≥ 6"]
    assert D.edge_labels([-3, -1, 0], integer=True) == ["≤ -3", "-2 to -1", "0", "≥ 1"]
    trend = D.profile_column(pd.Series(np.repeat([-2 / 9, -1 / 9, 0, 1 / 4, 1], [10, 20, 50, 10, 10]), dtype="float32"))
    assert trend.labels == ["≤ -0.22", "-0.22 to -0.11", "-0.11 to 0", "0 to 0.25", "> 0.25"]
    # Two significant figures unless two edges would read alike; never an exponent.
    assert D.edge_labels([0.0396, 0.0413, 0.0439], integer=False) == [
        "≤ 0.04", "0.04 to 0.041", "0.041 to 0.044", "> 0.044"]
    assert D.edge_labels([11.825, 22.02, 217.09, 12345.6], integer=False)[1:] == [
        "12 to 22", "22 to 220", "220 to 12000", "> 12000"]
    assert D.edge_labels([1.0001, 1.0002], integer=False) == ["≤ 1.0001", "1.0001 to 1.0002", "> 1.0002"]


def test_a_float32_reference_bins_a_float64_month_alike():
    # Training keeps its frame in float32; the month's features arrive in float64. -1/9 is an edge
    # of the reference, and in float32 it lies below the float64 -1/9 the month holds.
    values = np.repeat([-2 / 9, -1 / 9, 0.0, 1 / 9], [10, 20, 60, 10])
    assert D.psi(pd.Series(values.astype("float32")), pd.Series(values)) == 0.0


def test_months_on_common_bins_pool_and_compare():
    reference = pd.Series([0] * 60 + [1] * 30 + [2] * 10)
    prof = D.profile_column(reference)
    may = D.shares_on(prof, pd.Series([0] * 40 + [1] * 40 + [2] * 20))
    june = D.shares_on(prof, pd.Series([0] * 80 + [1] * 20))
    assert (may.labels, may.n, may.shares) == (prof.labels, 100, [0.4, 0.4, 0.2])
    both = D.pooled([may, D.shares_on(prof, pd.Series([0] * 240 + [1] * 60 + [np.nan] * 100))])
    assert both.n == 500 and both.shares == pytest.approx([0.56, 0.2, 0.04]) and both.missing == pytest.approx(0.2)
    expected = sum((a - b) * math.log(a / b) for a, b in [(0.4, 0.8), (0.4, 0.2), (0.2, EPS)])
    assert D.psi_matrix([may, june, may]) == pytest.approx(
        np.array([[0, expected, 0], [expected, 0, expected], [0, expected, 0]]))


def test_alarm_bands_are_floored_at_the_settings_and_scale_with_the_spread():
    assert D.alarm_bands(0.02, 0.1, 0.25) == D.psi_bands(0.1, 0.25)
    assert [upper for upper, _, _ in D.alarm_bands(0.3, 0.1, 0.25)[:2]] == pytest.approx([0.3, 0.75])
    v = np.arange(1000) % 10
    moved = np.where((v >= 8) & (np.arange(1000) % 20 < 10), v - 8, v)  # half the 8s and 9s become 0s and 1s
    ref, cur = pd.DataFrame({"x": v, "y": v}), pd.DataFrame({"x": moved, "y": moved})
    table = D.psi_table(ref, cur, bands={"x": D.PSI_THRESHOLDS, "y": D.alarm_bands(0.3, 0.1, 0.25)}).set_index("column")
    assert table.loc["x", "psi"] == table.loc["y", "psi"] == pytest.approx(2 * 0.05 * math.log(1.5) + 2 * 0.05 * math.log(2))
    assert table.loc["x", "warning"] and not table.loc["y", "warning"]
    assert (table.loc["y", "warn_at"], table.loc["y", "alert_at"]) == pytest.approx((0.3, 0.75))


def test_a_small_lists_sampling_noise_does_not_warn_but_a_real_shift_does():
    rng = np.random.default_rng(3)
    warned_by_chance = 0
    for _ in range(200):  # two draws of 45 children from the same population, as a small programme's list
        ref = pd.DataFrame({"x": rng.poisson(0.4, 45).astype(float)})
        cur = pd.DataFrame({"x": rng.poisson(0.4, 45).astype(float)})
        warned_by_chance += bool(D.psi_table(ref, cur)["warning"].iloc[0])
    assert warned_by_chance <= 2  # at the fixed 0.1 level, 78 of these 200 did
    assert D.noise_floor(45, 45, 2) > 0.1 > D.noise_floor(50_000, 50_000, 10)
    big_ref = pd.DataFrame({"x": rng.poisson(0.4, 50_000).astype(float)})
    shifted = pd.DataFrame({"x": rng.poisson(0.8, 50_000).astype(float)})
    assert D.psi_table(big_ref, shifted)["warning"].iloc[0]
