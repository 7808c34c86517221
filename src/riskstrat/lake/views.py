"""The lake as DuckDB views: one per table over its partitions, so later stages read it with SQL."""

from __future__ import annotations

from pathlib import Path

import duckdb

from riskstrat.core.errors import RiskstratError
from riskstrat.core.sql import literal, scalar
from riskstrat.core.workspace import LAKE, PARTITION_FILE, QUARANTINE, deliveries_path
from riskstrat.ingest.contracts import TABLES, load_contract

#: Columns ingest adds to every lake row: which file and line it came from, and its content hash.
LINEAGE_COLUMNS = {"source_file": "VARCHAR", "source_row": "BIGINT", "row_hash": "UBIGINT"}


def _empty_view_sql(table: str) -> str:
    contract = load_contract(table)
    cols = [f"CAST(NULL AS {c.duckdb_type}) AS {c.name}" for c in contract.columns]
    cols += [f"CAST(NULL AS {t}) AS {n}" for n, t in LINEAGE_COLUMNS.items()]
    cols.append("CAST(NULL AS VARCHAR) AS delivery_month")
    return "SELECT " + ", ".join(cols) + " WHERE false"


def table_source_sql(workspace: Path | str, table: str, area: str = LAKE) -> str:
    """A SELECT over every partition of ``table`` in ``area`` (typed and empty when there is none)."""
    root = Path(workspace) / area / table
    if any(root.glob(f"delivery_month=*/{PARTITION_FILE}")):
        pattern = literal(root / "delivery_month=*" / PARTITION_FILE)
        return (f"SELECT * FROM read_parquet({pattern}, hive_partitioning = true, "
                f"hive_types = {{'delivery_month': VARCHAR}}, union_by_name = true)")
    if area == LAKE:
        return _empty_view_sql(table)
    return "SELECT CAST(NULL AS VARCHAR) AS rule, CAST(NULL AS VARCHAR) AS delivery_month WHERE false"


def connect(workspace: Path | str, database: str = ":memory:") -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with one view per lake table, ``quarantine_<table>`` and ``_deliveries``."""
    con = duckdb.connect(database)
    # Commands draw their own progress. Inside a Jupyter kernel DuckDB already keeps the bar off
    # and refuses the setting outright, so it is only switched off where it is on.
    if scalar(con, "SELECT current_setting('enable_progress_bar')"):
        con.execute("SET enable_progress_bar = false")
    for table in TABLES:
        con.execute(f"CREATE OR REPLACE VIEW {table} AS {table_source_sql(workspace, table)}")
        con.execute(f"CREATE OR REPLACE VIEW quarantine_{table} AS {table_source_sql(workspace, table, QUARANTINE)}")
    deliveries = deliveries_path(workspace)
    if deliveries.exists():
        con.execute(f"CREATE OR REPLACE VIEW _deliveries AS SELECT * FROM read_parquet({literal(deliveries)})")
    else:
        con.execute(
            "CREATE OR REPLACE VIEW _deliveries AS SELECT CAST(NULL AS VARCHAR) AS \"table\", "
            "CAST(NULL AS VARCHAR) AS delivery_month, CAST(NULL AS VARCHAR) AS status WHERE false"
        )
    return con


def latest_delivery(con: duckdb.DuckDBPyConnection) -> str:
    """The latest delivery month in the lake: that of its newest eligibility snapshot."""
    month = scalar(con, "SELECT MAX(delivery_month) FROM eligibility")
    if month is None:
        raise RiskstratError("the lake has no eligibility delivery yet: ingest first")
    return month
