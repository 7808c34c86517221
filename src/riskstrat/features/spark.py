"""The feature concepts and the feature table on Apache Spark, from the same SQL files as DuckDB.

A plan too large for one machine runs the feature SQL on Spark (issue #19). Nobody keeps a second,
hand-written copy: each concept's DuckDB SQL is transpiled by sqlglot to Spark SQL, with two
rewrites of its syntax tree that sqlglot cannot know to make:

- ``main.`` before a lake view is DuckDB's default schema; Spark's temporary views have none.
- The final-claim rule's ``$as_of_month`` and ``$as_of`` parameters become literals.

The small tables the SQL reads (``params``, ``calendar``, the code sets) are made by the DuckDB
side, the one place that decides them, and copied to Spark through Arrow. The lake's Parquet
partitions are read by Spark itself. Each concept is checkpointed as it is made, so a concept read
by several others is computed once, as DuckDB's temp tables are.

This module is the first part of the Spark engine: the parity test (tests/features/test_spark.py)
shows every concept and every feature equal to DuckDB's. Labels, scoring and the engine setting
are not wired to it yet.
"""

from __future__ import annotations

import datetime
import os
import sys
from pathlib import Path

import pandas as pd
import sqlglot
from sqlglot import exp
from sqlglot.errors import ErrorLevel

from riskstrat.config import Settings
from riskstrat.core.months import check_month
from riskstrat.core.sql import first_row
from riskstrat.core.workspace import LAKE, lake_partitions
from riskstrat.features.build import check_lookback, feature_concepts, feature_sql, open_lake, prepare_features
from riskstrat.features.concept_sql import concept_order, concept_statement
from riskstrat.ingest.contracts import TABLES


def session(master: str = "local[2]", conf: dict[str, str] | None = None):
    """A Spark session for the feature SQL: UTC dates, ANSI mode (Spark 4's default) and the
    workers on this interpreter, so they import the same packages."""
    from pyspark.sql import SparkSession  # pyspark is an extra (riskstrat[spark]): only a Spark run needs it

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = (SparkSession.builder.master(master)
               .config("spark.sql.session.timeZone", "UTC")
               .config("spark.sql.ansi.enabled", "true")
               # delivery_month=2025-03 stays the string the SQL compares, not a date Spark infers.
               .config("spark.sql.sources.partitionColumnTypeInference.enabled", "false")
               .config("spark.ui.enabled", "false"))
    for key, value in (conf or {}).items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
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


def _register_inputs(spark, workspace: Path, con) -> None:
    partitions = lake_partitions(workspace)
    for table in TABLES:
        root = workspace / LAKE / table
        files = [p for p in partitions if p.parent.parent == root]
        if files:
            frame = spark.read.option("basePath", str(root)).option("mergeSchema", "true").parquet(*map(str, files))
        else:  # no delivery yet: DuckDB's typed empty view
            frame = spark.createDataFrame(con.execute(f"SELECT * FROM {table}").to_arrow_table())
        frame.createOrReplaceTempView(table)
    small = ["params", "calendar", *(row[0] for row in con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE table_name LIKE 'codeset_%' ORDER BY table_name").fetchall())]
    for name in small:
        spark.createDataFrame(con.execute(f"SELECT * FROM {name}").to_arrow_table()).createOrReplaceTempView(name)


def materialise_spark(spark, workspace: Path | str, as_of: str, concepts: list[str] | None = None) -> dict:
    """Every concept the features need (or ``concepts``) for ``as_of`` on Spark, as checkpointed
    temporary views of the same names; returns name -> Spark DataFrame."""
    check_month(as_of, "as_of")
    workspace = Path(workspace)
    con = open_lake(workspace)
    try:
        prepare_features(con, as_of)
        known_month, known_date = first_row(con, "SELECT known_month, known_date FROM params")
        _register_inputs(spark, workspace, con)
    finally:
        con.close()
    params = {"as_of_month": known_month, "as_of": known_date}
    made = {}
    for name in concept_order(concepts or feature_concepts()):
        sql, needs_params = concept_statement(name)
        frame = spark.sql(to_spark_sql(sql, params if needs_params else None)).localCheckpoint()
        frame.createOrReplaceTempView(name)
        made[name] = frame
    return made


def build_features_spark(spark, workspace: Path | str, as_of: str, settings: Settings | None = None) -> pd.DataFrame:
    """:func:`~riskstrat.features.build_features` computed on Spark: the same rows, columns and types."""
    check_lookback(settings or Settings())
    materialise_spark(spark, workspace, as_of)
    frame = spark.sql(to_spark_sql(feature_sql())).toPandas()
    frame["person_id"] = frame["person_id"].astype("string")
    frame = frame.sort_values("person_id", kind="stable").reset_index(drop=True)
    frame.attrs["as_of"] = as_of
    return frame
