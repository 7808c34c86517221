"""Spark parity on the hand-built plan: every feature concept, every feature and the labels on DuckDB and
on Spark local[2]; and the scoring booster on Spark against the local one. A whole month scored and
published on Spark is compared file by file in tests/flows/test_monthly_flow.py."""

from __future__ import annotations

import datetime
import math
import shutil
import subprocess
import sys
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
import sqlglot
from handbuilt_plan import AS_OF
from sqlglot import exp

from riskstrat.config import Settings
from riskstrat.core.fingerprint import lake_fingerprint
from riskstrat.core.workspace import LAKE
from riskstrat.features import build_features
from riskstrat.features.build import feature_concepts, feature_sql, open_lake, prepare_features
from riskstrat.features.concept_sql import _concept_names, concept_order, concept_statement, materialise
from riskstrat.features.spark import CONCEPT_JOBS, SparkEngineError, session, to_spark_sql
from riskstrat.features.store import is_stored, stored_features
from riskstrat.model.labels import OUTCOMES, build_training_frame
from riskstrat.scoring.spark import SparkBooster


def _cell(value):
    """A value as both engines must agree on it: dates to the day, numbers to 1e-9, missing as None."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NaT or value is pd.NA:
        return None
    if isinstance(value, (datetime.date, pd.Timestamp, np.datetime64)):
        return pd.Timestamp(value).date().isoformat()
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, str):
        return value
    return round(float(value), 9)


def _rows(frame: pd.DataFrame) -> list[tuple]:
    return sorted((tuple(_cell(v) for v in row) for row in frame.itertuples(index=False, name=None)),
                  key=lambda row: tuple((v is None, str(v)) for v in row))


def _concept_jobs(spark) -> int:
    """How many Spark jobs have run the concept SQL in this session so far."""
    return len(spark.sparkContext.statusTracker().getJobIdsForGroup(CONCEPT_JOBS))


def test_every_feature_concept_and_feature_is_the_same_on_spark(full_lake, spark, tmp_path):
    # Built as a Spark run builds a month it has not stored yet: through the feature store, on a
    # copy of the lake whose store is empty. The concepts stay in the session as temporary views.
    workspace = Path(shutil.copytree(full_lake / LAKE, tmp_path / LAKE)).parent
    jobs_before = _concept_jobs(spark)
    ours = stored_features(workspace, AS_OF, Settings().on_engine("spark"))
    assert _concept_jobs(spark) > jobs_before  # built on Spark
    assert is_stored(workspace, AS_OF, lake_fingerprint(workspace, AS_OF)["partitions"])
    con = open_lake(full_lake)
    prepare_features(con, AS_OF)
    materialise(con, feature_concepts())
    made = concept_order(feature_concepts())
    differ = []
    for name in made:
        duck = con.execute(f"SELECT * FROM {name}").df()
        on_spark = spark.table(name).toPandas()
        if list(on_spark.columns) != list(duck.columns) or _rows(on_spark) != _rows(duck):
            differ.append(name)
    con.close()
    assert len(made) >= 30 and not differ
    # the feature table, from those concepts
    duck = build_features(full_lake, AS_OF)
    assert list(ours.columns) == list(duck.columns) and list(ours.dtypes) == list(duck.dtypes)
    assert ours["person_id"].equals(duck["person_id"])
    values = duck.columns[1:]
    assert np.allclose(ours[values].to_numpy(float), duck[values].to_numpy(float), rtol=0, atol=1e-9, equal_nan=True)


def _same_frame(ours: pd.DataFrame, duck: pd.DataFrame) -> bool:
    return (list(ours.columns) == list(duck.columns) and list(ours.dtypes) == list(duck.dtypes)
            and _rows(ours) == _rows(duck))


def test_the_labels_are_the_same_on_spark(full_lake, spark):
    # Two months in one pass: the second reuses the events the first made (the outcome window's
    # claims, stays and visits); each month's labels, follow-up and population steps must match.
    months, outcomes = ["2025-02", "2025-03"], list(OUTCOMES)
    duck = build_training_frame(full_lake, months, outcomes)  # first: the feature store is then DuckDB's
    concept_jobs = _concept_jobs(spark)
    ours = build_training_frame(full_lake, months, outcomes, Settings().on_engine("spark"))
    assert _concept_jobs(spark) > concept_jobs  # on Spark
    assert len(duck.frame) > 10 and (duck.frame[outcomes] == 1).any().sum() >= 4
    assert duck.frame[outcomes].isna().to_numpy().any()  # some children left the plan: the follow-up rule ran
    assert _same_frame(ours.frame, duck.frame) and ours.attrition.equals(duck.attrition)


#: Constructs sqlglot transpiles to Spark with a different meaning (docs/spark.md says how the SQL
#: avoids each): what each is, how to find it, and an example it must find.
DIFFERS_ON_SPARK = {
    "QUALIFY (its rewrite moves an outer ORDER BY into the subquery)": (
        lambda t: t.find(exp.Qualify), "SELECT * FROM t QUALIFY ROW_NUMBER() OVER (ORDER BY a) = 1"),
    "an ordered list aggregate (its order is lost)": (
        lambda t: t.find(exp.ArrayAgg, exp.GroupConcat), "SELECT list(a ORDER BY b) FROM t"),
    "INTERVAL arithmetic (TIMESTAMP on DuckDB, DATE on Spark)": (
        lambda t: t.find(exp.Interval), "SELECT d + INTERVAL 1 MONTH FROM t"),
    "generate_series (TIMESTAMP on DuckDB, DATE on Spark)": (
        lambda t: t.find(exp.GenerateSeries, exp.ExplodingGenerateSeries), "SELECT * FROM generate_series(1, 3)"),
    "a month difference (boundaries crossed on DuckDB, whole months on Spark)": (
        lambda t: any(d.text("unit").lower().strip("'") in ("month", "months", "year", "quarter")
                      for d in t.find_all(exp.DateDiff)), "SELECT date_diff('month', a, b) FROM t"),
}


def test_no_sql_uses_a_construct_that_means_something_else_on_spark():
    sources = {name: concept_statement(name)[0] for name in _concept_names() | {"outcomes"}}
    sources["the feature table"] = feature_sql()
    found = [f"{name}: {what}" for name, sql in sources.items() for what, (test, _) in DIFFERS_ON_SPARK.items()
             if test(sqlglot.parse_one(sql, read="duckdb"))]
    assert len(sources) > 30 and found == []
    missed = [what for what, (test, example) in DIFFERS_ON_SPARK.items() if not test(sqlglot.parse_one(example, read="duckdb"))]
    assert missed == []  # each check finds its own construct


def test_the_booster_predicts_exactly_as_local_on_spark(spark):
    rng = np.random.default_rng(3)
    X = pd.DataFrame(rng.normal(size=(3000, 12)).astype("float32"), columns=[f"f{i}" for i in range(12)])
    y = (X["f0"] + X["f1"] * X["f2"] + rng.normal(size=len(X)) > 0.5).astype(int)
    booster = lgb.train({"objective": "binary", "num_leaves": 7, "verbose": -1, "seed": 1}, lgb.Dataset(X, y),
                        num_boost_round=40)
    X.iloc[::7, 3] = np.nan  # missing values travel through Arrow and back as missing
    on_spark = SparkBooster(spark, booster)
    assert np.array_equal(on_spark.predict(X, raw_score=True), booster.predict(X, raw_score=True))
    contributions = on_spark.predict(X, pred_contrib=True)
    assert contributions.shape == (len(X), X.shape[1] + 1)
    assert np.array_equal(contributions, booster.predict(X, pred_contrib=True))
    assert on_spark.predict(X.iloc[:0], pred_contrib=True).shape == (0, X.shape[1] + 1)
    assert on_spark.current_iteration() == 40  # anything but predict is asked of the local booster


def test_spark_without_java_is_refused_in_one_line(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.delenv("JAVA_HOME", raising=False)
    with pytest.raises(SparkEngineError, match="needs Java 17"):
        session("local[1]")


def test_a_spark_that_cannot_start_is_refused_in_one_line(tmp_path):
    # in a process of its own: Spark keeps one session per process, and this one's is running
    code = ("from riskstrat.features.spark import session\n"
            "try:\n    session('nonsense')\nexcept Exception as exc:\n    print(type(exc).__name__, '|', exc)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    out = done.stdout.strip()
    assert out.startswith("SparkEngineError | Spark did not start (engine.spark_master = 'nonsense'; Java from "), out
    assert "\n" not in out and "FutureWarning" not in done.stderr


def test_parameters_and_schema_are_rewritten_for_spark():
    sql = to_spark_sql("SELECT * FROM main.medical_claim WHERE delivery_month <= $as_of_month AND paid_date <= $as_of",
                       {"as_of_month": "2025-03", "as_of": datetime.date(2025, 3, 31)})
    assert "main." not in sql and "'2025-03'" in sql and "CAST('2025-03-31' AS DATE)" in sql
    with pytest.raises(ValueError, match=r"\$as_of"):
        to_spark_sql("SELECT $as_of", {})


def test_great_expectations_still_imports_where_main_has_no_file():
    # pyspark.sql.connect, which great_expectations imports once pyspark is installed, takes a
    # __main__ without a file (python -c, pytest-xdist workers) for a doctest run and exits with
    # status 0 when grpc is missing: ingest would then stop silently. riskstrat[spark] brings grpc.
    done = subprocess.run([sys.executable, "-c", "import great_expectations; print('imported')"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and "imported" in done.stdout, done.stderr[-500:]
