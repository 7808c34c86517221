"""Drift on the audit plan's own months: twelve months with nothing planted warn of nothing; an ED
feed that stops warns, on the ED features.

The plan (conftest.py) has deliveries from 2023-10, so a 12-month look-back is complete from
2024-09. The reference here is built as training builds it, from the plan's months 2024-03 to
2024-11 scored by its champion and kept in float32; the twelve months after it are compared with
it as the monthly job compares a month, from features built out of the lake.
"""

import dataclasses
import shutil

import pandas as pd
import pytest

from riskstrat.audit.drift import drift_warnings
from riskstrat.audit.month import scored_frame, training_drift
from riskstrat.audit.training import drift_reference, first_full_month
from riskstrat.config import load_settings
from riskstrat.core.months import months_between
from riskstrat.features import build_features
from riskstrat.features.build import build_feature_months, open_lake, prepare_as_of
from riskstrat.features.concept_sql import materialise, register_codesets
from riskstrat.model import registry

pytestmark = pytest.mark.slow

REFERENCE, CHECKED = months_between("2024-03", "2024-11"), months_between("2024-12", "2025-11")
ED_FEATURES = {"ed_visits_3m", "ed_visits_6m", "ed_visits_12m", "ed_visits_trend", "sibling_ed_visits_6m",
               "bh_ed_visits_3m", "bh_ed_visits_6m", "bh_ed_visits_12m"}


@pytest.fixture(scope="module")
def champion(scored_plan):
    return registry.load_model(scored_plan)


@pytest.fixture(scope="module")
def features(scored_plan) -> dict[str, pd.DataFrame]:
    # In one pass over the claims: the same tables as month by month (tests/features/test_feature_months.py),
    # in half the time for 21 months.
    return dict(build_feature_months(scored_plan, REFERENCE + CHECKED))


def _reference(champion, features, full_from):
    rows = pd.concat([features[m].assign(as_of=m) for m in REFERENCE], ignore_index=True)
    rows[champion.feature_names] = rows[champion.feature_names].astype("float32")  # as training keeps its frame
    return drift_reference(rows, champion.feature_names, champion.predict_proba, full_from)


def _drift(model, month_features, settings):
    return training_drift(model, scored_frame(model, month_features, model.predict_proba(month_features)), settings)


def test_twelve_months_with_nothing_planted_warn_of_nothing(scored_plan, champion, features):
    settings = load_settings(scored_plan)
    full_from = first_full_month(scored_plan, champion.design.lookback_months)
    assert full_from == "2024-09"
    reference = _reference(champion, features, full_from)
    assert reference["months"] == ["2024-09", "2024-10", "2024-11"] and reference["months_left_out"] == REFERENCE[:6]
    model = dataclasses.replace(champion, drift_reference=reference)
    for month in CHECKED:
        table = _drift(model, features[month], settings)
        assert not table["warning"].any(), (month, drift_warnings(table))
    assert table.attrs["expected"] == "2024-11, the same calendar month in training"
    # With the months whose look-back reaches before the first delivery kept in, the truncated
    # counts of the plan's first year are what some later months are expected to look like.
    early = dataclasses.replace(champion, drift_reference=_reference(champion, features, None))
    warned = {month: drift_warnings(_drift(early, features[month], settings)) for month in CHECKED}
    assert any(warned.values())


def test_an_ed_feed_that_stops_warns_on_the_ed_features(scored_plan, champion, features, tmp_path):
    """The last three deliveries before 2025-05 lose every ED visit, from claims and from ADT alike."""
    month, lost = "2025-05", months_between("2025-03", "2025-05")
    shutil.copytree(scored_plan / "lake", tmp_path / "lake")
    con = open_lake(scored_plan)
    try:
        register_codesets(con)
        prepare_as_of(con, month)
        materialise(con, ["ed_visit_records"])
        records = con.execute("SELECT DISTINCT source, record_id FROM ed_visit_records").df()
    finally:
        con.close()
    for table, source, key in (("medical_claim", "claim", "claim_id"), ("ed_visit", "adt", "visit_id")):
        ids = set(records.loc[records["source"] == source, "record_id"])
        for delivered in lost:
            path = tmp_path / "lake" / table / f"delivery_month={delivered}" / "part-0.parquet"
            rows = pd.read_parquet(path)
            rows[~rows[key].isin(ids)].to_parquet(path, index=False)
    settings = load_settings(scored_plan)
    model = dataclasses.replace(champion, drift_reference=_reference(
        champion, features, first_full_month(scored_plan, champion.design.lookback_months)))
    before = _drift(model, features[month], settings)
    after = _drift(model, build_features(tmp_path, month), settings)
    assert not before["warning"].any()
    warned = set(after.loc[after["warning"], "column"])
    assert {"ed_visits_3m", "ed_visits_trend"} <= warned <= ED_FEATURES, drift_warnings(after)
