"""End to end on a small synthetic plan: synth -> ingest -> features, and the leakage test on real deliveries.

Runs once ingest exists (`riskstrat ingest`); until then it is skipped with the reason.
"""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from riskstrat.cli import app
from riskstrat.core.months import add_months, months_between
from riskstrat.features import build_features, feature_names
from riskstrat.features.build import build_feature_months
from riskstrat.model.labels import build_training_frame

END = "2025-11"
MONTHS = 10
T = "2025-05"  # its 6-month outcome window ends at the last delivery (no run-out asked)


def _ingest(workspace) -> None:
    result = CliRunner().invoke(app, ["ingest", "--workspace", str(workspace)])
    assert result.exit_code == 0, result.output


@pytest.fixture(scope="module")
def plans(tmp_path_factory):
    from riskstrat.synth import PlanSpec, generate_plan

    full = tmp_path_factory.mktemp("synth_full")
    generate_plan(full, PlanSpec(members=300, months=MONTHS, end=END, seed=3, defect_rate=0.0))
    known = tmp_path_factory.mktemp("synth_known_at_t")
    for delivery in sorted((full / "landing").iterdir()):
        if delivery.name <= T:
            shutil.copytree(delivery, known / "landing" / delivery.name)
    _ingest(full)
    _ingest(known)
    return full, known


@pytest.mark.slow
def test_later_deliveries_change_no_feature(plans):
    full, known = plans
    with_later = build_features(full, T)
    only_known = build_features(known, T)
    assert len(with_later) > 30
    assert list(with_later.columns) == ["person_id", *feature_names()]
    assert with_later.equals(only_known)
    assert with_later["ed_visits_12m"].sum() > 0  # the plan's utilisation reaches the features


@pytest.mark.slow
def test_training_frame_on_a_synthetic_plan(plans):
    full, _ = plans
    months = [add_months(T, -1), T]
    frame, attrition, matrix = build_training_frame(full, months, runout_months=0)
    assert set(frame["as_of"]) == set(months)
    # the features as LightGBM reads them, with the frame's feature columns views on them
    names = feature_names()
    assert matrix.flags.c_contiguous and matrix.dtype == np.float32 and matrix.shape == (len(frame), len(names))
    assert np.shares_memory(frame[names[-1]].to_numpy(), matrix)
    np.testing.assert_array_equal(frame[names].to_numpy(dtype=np.float32), matrix)
    assert frame["label"].isin([0, 1]).all() and 0 < frame["label"].mean() < 0.5
    assert not frame.duplicated(["person_id", "as_of"]).any()
    assert (attrition["children"] >= 0).all()


@pytest.mark.slow
def test_months_built_together_are_the_months_built_alone(plans):
    # the generator's own adjustments and reversals (about 3% of paid claims), on every month
    full, _ = plans
    months = months_between(add_months(END, -(MONTHS - 1)), END)
    together = dict(build_feature_months(full, months))
    assert list(together) == months
    for month in months:
        pd.testing.assert_frame_equal(together[month], build_features(full, month), check_exact=True)


def test_only_features_declared_as_possibly_missing_have_gaps(features):
    from riskstrat.features import FEATURES

    with_gaps = set(features.columns[features.isna().any()])
    assert with_gaps, "the hand-built plan should leave some feature without a value"
    assert with_gaps <= {f.name for f in FEATURES if f.may_be_missing}
