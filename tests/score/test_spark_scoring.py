"""Scoring and SHAP on Spark (mapInPandas, the model text broadcast) against local scoring: the same numbers, the same files."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scorekit import AS_OF, build_workspace, training_frame

from riskstrat.config import load_settings
from riskstrat.publish.month import score_month
from riskstrat.scoring.spark import SparkBooster

#: What a month publishes apart from its timings (run.json) and the report that prints them.
SAME_BYTES = ("scores.parquet", "explanations.parquet", "worklist.csv", "worklist.xlsx", "worklist_acute_event.csv",
              "worklist_cares.csv", "worklist_stronger_together.csv")


def test_the_booster_predicts_exactly_as_local_on_spark(model, spark):
    X = model.matrix(training_frame(3000, [AS_OF], seed=5))
    X.iloc[::7, 3] = np.nan  # missing values travel through Arrow and back as missing
    on_spark = SparkBooster(spark, model.booster)
    assert np.array_equal(on_spark.predict(X, raw_score=True), model.booster.predict(X, raw_score=True))
    contributions = on_spark.predict(X, pred_contrib=True)
    assert contributions.shape == (len(X), X.shape[1] + 1)
    assert np.array_equal(contributions, model.booster.predict(X, pred_contrib=True))
    assert on_spark.predict(X.iloc[:0], pred_contrib=True).shape == (0, X.shape[1] + 1)
    assert on_spark.current_iteration() == model.booster.current_iteration()  # the rest is the local booster's


@pytest.fixture(scope="module")
def both_engines(tmp_path_factory, model_workspace, spark):
    root = tmp_path_factory.mktemp("engines")
    duck_ws = build_workspace(root / "duckdb", model_workspace)
    spark_ws = build_workspace(root / "spark", model_workspace)
    duck = score_month(duck_ws, AS_OF, load_settings(duck_ws))
    ours = score_month(spark_ws, AS_OF, load_settings(spark_ws).on_engine("spark"))
    return duck, ours


def test_a_month_scored_on_spark_publishes_the_same_files(both_engines):
    duck, ours = both_engines
    assert set(SAME_BYTES) <= {p.name for p in duck.out_dir.iterdir()}
    differ = [name for name in SAME_BYTES if (duck.out_dir / name).read_bytes() != (ours.out_dir / name).read_bytes()]
    assert not differ
    scores = pd.read_parquet(ours.out_dir / "scores.parquet")
    shap = pd.read_parquet(ours.out_dir / "explanations.parquet")
    assert scores["flagged"].sum() > 3 and len(shap) > 100 and shap["shap_value"].abs().gt(0).any()
