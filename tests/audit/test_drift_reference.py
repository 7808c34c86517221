"""The drift reference month by month, on hand-built months whose seasons and shifts are known.

A plan's ED visits peak in winter; its children's ages do not move. Compared with all training
months pooled, every winter month warns on ED visits; compared with the same calendar month of
training, and at an alarm level set by how far ED visits move between comparable training
months, none does, while a real shift (even of ED visits) still warns.
"""

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from riskstrat.audit import drift as D
from riskstrat.audit.month import training_drift
from riskstrat.audit.training import drift_reference, expected_profiles, reference_profiles
from riskstrat.config import Settings
from riskstrat.core.months import months_between

FEATURES = ["ed_visits_3m", "age_years", "enrolled_months_12m", "aid_category"]
START, FULL_FROM = "2022-01", "2022-12"  # the first delivery, and the first month with a 12-month look-back


def _month(month: str, n: int, seed: int) -> pd.DataFrame:
    """One as-of month: ED visits with a winter peak, ages and aid categories steady, enrolment
    counted only from the first delivery (so truncated in the plan's first year)."""
    rng = np.random.default_rng(seed)
    calendar = int(month[5:])
    rate = 0.35 * (1 + 0.9 * np.cos(2 * np.pi * (calendar - 1) / 12))
    since_start = months_between(START, month)
    return pd.DataFrame({
        "person_id": [f"p{seed}-{i}" for i in range(n)],
        "as_of": month,
        "ed_visits_3m": rng.poisson(rate, n).astype("float32"),
        "age_years": rng.integers(0, 21, n).astype("float32"),
        "enrolled_months_12m": np.minimum(rng.integers(6, 13, n), len(since_start)).astype("float32"),
        "aid_category": rng.choice(["tanf", "chip", "foster_care"], n, p=[0.8, 0.15, 0.05]),
    })


def _predict(rows: pd.DataFrame) -> np.ndarray:
    return 1 / (1 + np.exp(3 - 0.6 * rows["ed_visits_3m"].to_numpy(dtype=float)))


@pytest.fixture(scope="module")
def rows() -> pd.DataFrame:
    """Three years of training rows, the first of them before the look-back is complete."""
    return pd.concat([_month(m, 1500, i) for i, m in enumerate(months_between(START, "2024-12"))], ignore_index=True)


@pytest.fixture(scope="module")
def reference(rows) -> dict:
    return drift_reference(rows, FEATURES, _predict, FULL_FROM)


def _model(reference: dict) -> SimpleNamespace:
    return SimpleNamespace(feature_names=FEATURES, drift_reference=reference)


def _scored(month: str, seed: int, n: int = 3000) -> pd.DataFrame:
    frame = _month(month, n, seed).astype({c: float for c in FEATURES[:3]})  # a month's features arrive as float64
    frame["score"] = _predict(frame)
    return frame[[*FEATURES, "score"]]


def test_the_reference_keeps_each_month_and_leaves_the_start_of_the_data_out(rows, reference):
    assert reference["months"] == months_between(FULL_FROM, "2024-12")
    assert reference["months_left_out"] == months_between(START, "2022-11")
    assert reference["rows"] == 1500 * len(reference["months"])
    assert set(reference["by_month"]) == set(reference["months"])
    january = reference["by_month"]["2024-01"]
    assert january["rows"] == 1500 and set(january["shares"]) == {*FEATURES, "score"}
    prof = reference_profiles(reference)["aid_category"]
    assert len(january["shares"]["aid_category"]) == len(prof.labels) + 1  # the bins, then the missing share
    # Truncated enrolment counts of the plan's first year would be a shift of their own: left out, the
    # months agree up to noise. ED visits swing with the seasons: far between winter and summer,
    # less between neighbouring months and the same month of two years.
    spread = reference["spread"]
    for steady in ("enrolled_months_12m", "age_years", "aid_category"):
        assert spread["adjacent"][steady] <= spread["any"][steady] < 0.05
    assert spread["any"]["ed_visits_3m"] > 1 and 0.1 < spread["adjacent"]["ed_visits_3m"] < 0.2
    kept_in = drift_reference(rows, FEATURES, _predict)
    assert kept_in["months_left_out"] == [] and kept_in["spread"]["any"]["enrolled_months_12m"] > 1


def test_a_winter_month_is_compared_with_the_winters_of_training(reference):
    current = _scored("2025-01", seed=101)
    table = training_drift(_model(reference), current, Settings(), as_of="2025-01")
    assert table.attrs["expected"] == "2023-01 and 2024-01, the same calendar month in training"
    assert not table["warning"].any(), D.drift_warnings(table)
    # All training months pooled, at the settings' bands, January's ED visits and score warn: the issue.
    pooled = D.psi_table(reference_profiles(reference), current, [*FEATURES, "score"])
    assert set(pooled.loc[pooled["warning"], "column"]) == {"ed_visits_3m", "score"}


def test_a_month_training_never_saw_is_judged_at_the_seasonal_alarm_level(rows):
    spring_to_autumn = drift_reference(rows[rows["as_of"].between("2024-03", "2024-10")], FEATURES, _predict, FULL_FROM)
    table = training_drift(_model(spring_to_autumn), _scored("2025-11", seed=102), Settings(), as_of="2025-11")
    assert table.attrs["expected"] == "the training months 2024-03 to 2024-10 pooled"
    row = table.set_index("column").loc["ed_visits_3m"]
    assert row["warn_at"] == spring_to_autumn["spread"]["any"]["ed_visits_3m"] and row["psi"] > 0.1 and not row["warning"]
    assert table.set_index("column").loc["age_years", "warn_at"] == 0.1


def test_a_doubling_of_winter_ed_visits_warns_although_ed_visits_swing_with_the_seasons(reference):
    current = _scored("2025-01", seed=105)
    current["ed_visits_3m"] += np.random.default_rng(0).poisson(0.665, len(current))  # January's rate, again
    current["score"] = _predict(current)
    table = training_drift(_model(reference), current, Settings(), as_of="2025-01").set_index("column")
    assert set(table.index[table["warning"]]) == {"ed_visits_3m", "score"}
    assert table.loc["ed_visits_3m", "warn_at"] == pytest.approx(reference["spread"]["adjacent"]["ed_visits_3m"])


def test_a_real_shift_warns_for_the_shifted_feature_only(reference):
    current = _scored("2025-01", seed=103)
    current.loc[current.index % 3 == 0, "age_years"] = 0.0  # a third of the children are suddenly infants
    current.loc[current.index % 4 == 0, "aid_category"] = "ssi_disabled"  # a new aid category, a quarter of the plan
    table = training_drift(_model(reference), current, Settings(), as_of="2025-01")
    assert set(table.loc[table["warning"], "column"]) == {"age_years", "aid_category"}
    lines = D.drift_warnings(table)
    assert any(line.startswith("age_years: PSI ") and "≤ 2: " in line for line in lines)
    assert any("<unseen>: 0.0% → 25.0%" in line for line in lines)


def test_a_reference_from_before_months_were_kept_falls_back_to_the_pooled_rows(reference):
    old = {key: reference[key] for key in ("source", "months", "rows", "profiles")}
    assert expected_profiles(old, "2025-01")[1:] == ({}, "the training rows pooled")
    table = training_drift(_model(old), _scored("2025-01", seed=104), Settings(), as_of="2025-01")
    assert (table["warn_at"] == 0.1).all() and (table["alert_at"] == 0.25).all()
    assert set(table.loc[table["warning"], "column"]) == {"ed_visits_3m", "score"}  # today's behaviour, warts and all
