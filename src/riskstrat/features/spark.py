"""The concept SQL on Apache Spark: features and labels from the same SQL files as DuckDB.

A plan too large for one machine runs the feature and label SQL on Spark (issue #19; the setting
is ``engine.name = "spark"``, or a command's ``--engine spark``). Nobody keeps a second,
hand-written copy: each concept's DuckDB SQL is transpiled by sqlglot to Spark SQL, with two
rewrites of its syntax tree that sqlglot cannot know to make:

- ``main.`` before a lake view is DuckDB's default schema; Spark's temporary views have none.
- The final-claim rule's ``$known_first``, ``$known_last`` and ``$known_last_date`` parameters
  become literals.

Where the two engines read one construct differently, the SQL file itself is written in a form
that means the same on both (a comment there says why), and the parity tests
(tests/features/test_spark.py) hold every concept, feature and label equal.

The small tables the SQL reads (``params``, ``calendar``, the code sets) are made by the DuckDB
side, the one place that decides them, and copied to Spark through Arrow. The lake's Parquet
partitions are read by Spark itself. What comes back to this machine is one row per child: a
month's feature table or its window counts. Scoring is :mod:`riskstrat.scoring.spark`.
"""

from __future__ import annotations

import datetime
import os
import shutil
import sys
import warnings
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import sqlglot
from sqlglot import exp
from sqlglot.errors import ErrorLevel

from riskstrat.config import Settings
from riskstrat.core.errors import RiskstratError
from riskstrat.core.months import check_month
from riskstrat.core.sql import identifier
from riskstrat.core.workspace import LAKE, lake_partitions
from riskstrat.features.build import (
    POPULATION_STEPS_SQL,
    check_lookback,
    feature_concepts,
    feature_sql,
    open_lake,
    population_steps,
    prepare_features,
)
from riskstrat.features.concept_sql import (
    CODESETS,
    FINAL_CLAIM_PARAMS_SQL,
    concept_order,
    concept_statement,
    final_claim_params,
)
from riskstrat.ingest.contracts import TABLES


class SparkEngineError(RiskstratError):
    """The Spark engine cannot start; the message says what is missing."""


#: Spark job groups, so a run (or a test) can tell which work ran on Spark.
CONCEPT_JOBS, SCORING_JOBS = "riskstrat-concepts", "riskstrat-scoring"


@contextmanager
def job_group(spark, group: str):
    """Spark jobs started in this block belong to ``group`` (``statusTracker().getJobIdsForGroup``)."""
    spark.sparkContext.setJobGroup(group, group)
    try:
        yield
    finally:
        spark.sparkContext.setLocalProperty("spark.jobGroup.id", None)


def session(master: str = "local[2]", conf: dict[str, str] | None = None):
    """A Spark session for the feature SQL: UTC dates, ANSI mode (Spark 4's default) and the
    workers on this interpreter, so they import the same packages. A session already running in
    this process is reused as it is (Spark allows one per process): its master stays."""
    # pyspark warns, at each of its imports in this process and its workers', that it does not fully
    # support pandas 3: riskstrat's Spark parity tests vouch for the results, and an analyst's stderr
    # held about forty of those lines a run.
    warnings.filterwarnings("ignore", category=FutureWarning, module="pyspark")
    try:
        from pyspark.sql import SparkSession  # pyspark is an extra (riskstrat[spark]): only a Spark run needs it
    except ImportError:
        raise SparkEngineError("engine.name = spark needs pyspark: install riskstrat[spark]") from None
    if not shutil.which("java") and not os.environ.get("JAVA_HOME"):
        raise SparkEngineError("engine.name = spark needs Java 17 on PATH (or JAVA_HOME) for Spark's JVM")

    if master.startswith("local"):
        # Local workers must run this interpreter (its lightgbm, its riskstrat); a PYSPARK_PYTHON
        # inherited from a cluster host's profile would start another. On a cluster the plan's
        # own setting names the executors' Python.
        os.environ["PYSPARK_PYTHON"] = sys.executable
    else:
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = (SparkSession.builder.master(master)
               .config("spark.sql.session.timeZone", "UTC")
               .config("spark.sql.ansi.enabled", "true")
               # toPandas and createDataFrame through Arrow (the feature table, the scoring's rows):
               # row by row through Python they would take minutes at a state's size
               .config("spark.sql.execution.arrow.pyspark.enabled", "true")
               # delivery_month=2025-03 stays the string the SQL compares, not a date Spark infers.
               .config("spark.sql.sources.partitionColumnTypeInference.enabled", "false")
               .config("spark.ui.enabled", "false")
               # no progress bars on the analyst's console: the run's own progress says how far it is
               .config("spark.ui.showConsoleProgress", "false"))
    for key, value in (conf or {}).items():
        builder = builder.config(key, value)
    try:
        spark = builder.getOrCreate()
    except Exception as exc:  # pyspark raises its own errors, py4j's and Java's through them
        first = next((line.strip() for line in str(exc).splitlines() if line.strip()), type(exc).__name__)
        raise SparkEngineError(
            f"Spark did not start (engine.spark_master = {master!r}; Java from "
            f"{os.environ.get('JAVA_HOME') or shutil.which('java')}): {first[:200]}") from None
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def to_spark_sql(sql: str, params: dict | None = None) -> str:
    """DuckDB SQL as Spark SQL; ``params`` fill the final-claim rule's ``$name`` parameters."""
    def rewrite(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Table) and node.db == "main" and not node.catalog:
            node.set("db", None)
        if isinstance(node, (exp.Placeholder, exp.Parameter)):
            if params is None or node.name not in params:
                raise ValueError(f"no value for the SQL parameter ${node.name}")
            value = params[node.name]
            if isinstance(value, datetime.date):
                return exp.cast(exp.Literal.string(value.isoformat()), "DATE")
            return exp.Literal.string(str(value))
        return node

    tree = sqlglot.parse_one(sql, read="duckdb").transform(rewrite)
    return tree.sql("spark", unsupported_level=ErrorLevel.RAISE)


def engine_session(settings: Settings):
    """The Spark session of ``settings.engine`` (master and configuration), or None on DuckDB."""
    if settings.engine.name != "spark":
        return None
    return session(settings.engine.spark_master, settings.engine.spark_conf)


def _empty_table(con, table: str):
    """A lake view with no partition, as an empty Arrow table of its columns: an unsigned 64-bit
    column (the lineage's row_hash) as DECIMAL(20,0), which is how Spark reads one from Parquet."""
    columns = [f"CAST({identifier(name)} AS DECIMAL(20, 0)) AS {identifier(name)}" if kind == "UBIGINT"
               else identifier(name) for name, kind, *_ in con.execute(f"DESCRIBE {table}").fetchall()]
    return con.sql(f"SELECT {', '.join(columns)} FROM {table} LIMIT 0").to_arrow_table()


class SparkConcepts:
    """The concept SQL run on Spark over one workspace's lake.

    Built from a DuckDB connection on the same lake that has the code sets registered
    (:func:`~riskstrat.features.concept_sql.register_codesets`, the one place that decides them): the lake's Parquet partitions are read by Spark itself, the code sets
    copied through Arrow. :meth:`use_params` copies the month's ``params`` and ``calendar`` the
    same way, after :func:`~riskstrat.features.concept_sql.set_params` wrote them on DuckDB.
    """

    def __init__(self, spark, workspace: Path | str, con):
        self.spark = spark
        root = Path(workspace) / LAKE
        partitions = lake_partitions(workspace)
        for table in TABLES:
            files = [p for p in partitions if p.parent.parent == root / table]
            if files:
                frame = (spark.read.option("basePath", str(root / table)).option("mergeSchema", "true")
                         .parquet(*map(str, files)))
            else:  # no delivery yet: DuckDB's typed empty view
                frame = spark.createDataFrame(_empty_table(con, table))
            frame.createOrReplaceTempView(table)
        self._copy(con, [f"codeset_{name}" for name in CODESETS])

    def _copy(self, con, names: list[str]) -> None:
        for name in names:
            self.spark.createDataFrame(con.sql(f"SELECT * FROM {name}").to_arrow_table()).createOrReplaceTempView(name)

    def use_params(self, con) -> None:
        """The month's ``params`` and ``calendar``, as ``con`` holds them now."""
        self._copy(con, ["params", "calendar"])

    def materialise(self, concepts: list[str], reuse: list[str] | tuple = ()) -> dict:
        """Each concept (and what it reads) as a checkpointed temporary view of its name, in
        dependency order, so a concept read by several others is computed once, as DuckDB's temp
        tables are; those in ``reuse`` are kept from the previous month. Returns name -> DataFrame."""
        params = final_claim_params(self.spark.sql(FINAL_CLAIM_PARAMS_SQL).first())
        made = {}
        with job_group(self.spark, CONCEPT_JOBS):
            for name in concept_order(concepts):
                if name in reuse:
                    continue
                sql, needs_params = concept_statement(name)
                frame = self.spark.sql(to_spark_sql(sql, params if needs_params else None)).localCheckpoint()
                frame.createOrReplaceTempView(name)
                made[name] = frame
        return made

    def query(self, sql: str):
        """A DuckDB query over the concepts, run on Spark (a Spark DataFrame)."""
        return self.spark.sql(to_spark_sql(sql))

    def population_attrition(self) -> list[tuple[str, int]]:
        """:func:`~riskstrat.features.build.population_attrition`, read on Spark."""
        return population_steps(self.query(POPULATION_STEPS_SQL).first())


def materialise_spark(spark, workspace: Path | str, as_of: str) -> dict:
    """Every concept the features need for ``as_of`` on Spark, as checkpointed temporary views of
    the same names; returns name -> Spark DataFrame."""
    check_month(as_of, "as_of")
    con = open_lake(workspace)
    try:
        prepare_features(con, as_of)
        on_spark = SparkConcepts(spark, workspace, con)
        on_spark.use_params(con)
    finally:
        con.close()
    return on_spark.materialise(feature_concepts())


def build_features_spark(spark, workspace: Path | str, as_of: str, settings: Settings | None = None) -> pd.DataFrame:
    """:func:`~riskstrat.features.build_features` computed on Spark: the same rows, columns and types."""
    check_lookback(settings or Settings())
    materialise_spark(spark, workspace, as_of)
    return feature_table_spark(spark, as_of)


def feature_table_spark(spark, as_of: str) -> pd.DataFrame:
    """The feature table of ``as_of`` from the concepts :func:`materialise_spark` made, collected
    to this machine: one row per child, in the SQL's person_id order as DuckDB's is."""
    frame = spark.sql(to_spark_sql(feature_sql())).toPandas()
    frame["person_id"] = frame["person_id"].astype("string")
    frame.attrs["as_of"] = as_of
    return frame
