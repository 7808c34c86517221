"""The deliveries ledger, ``lake/_deliveries.parquet``: one row per table of every ingested delivery.

What ingest recorded of each file (its sha256, status, rows in, accepted and quarantined, the
rules broken), so a month whose files are unchanged is skipped and every later stage can say
what the lake was made from.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from riskstrat.core.workspace import deliveries_path
from riskstrat.ingest.contracts import TABLES

DELIVERY_COLUMNS = {
    "table": pa.string(), "delivery_month": pa.string(), "file": pa.string(), "sha256": pa.string(),
    "status": pa.string(), "rule": pa.string(), "message": pa.string(), "rows_in": pa.int64(),
    "rows_accepted": pa.int64(), "rows_quarantined": pa.int64(), "rows_warned": pa.int64(),
    "rule_counts": pa.string(), "contract_version": pa.string(), "ingested_at": pa.timestamp("us", tz="UTC"),
    "ignored_columns": pa.string(),
}


def read_deliveries(workspace: Path | str) -> list[dict[str, Any]]:
    """Rows of ``lake/_deliveries.parquet`` (empty when nothing was ingested)."""
    p = deliveries_path(workspace)
    return pq.read_table(p).to_pylist() if p.exists() else []


def write_deliveries(path: Path, rows: list[dict[str, Any]]) -> None:
    """Write the ledger's rows to ``path``, in month and table order."""
    rows = sorted(rows, key=lambda r: (r["delivery_month"], TABLES.index(r["table"]) if r["table"] in TABLES else 99))
    schema = pa.schema(DELIVERY_COLUMNS)
    table = pa.Table.from_pylist([{k: r.get(k) for k in DELIVERY_COLUMNS} for r in rows], schema=schema)
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path, compression="zstd")


def month_up_to_date(month: str, files: dict[str, tuple[str, str]], ledger: list[dict[str, Any]]) -> bool:
    """Whether the ledger recorded exactly these files (table: (name, sha256)) for ``month``."""
    recorded = {(r["table"], r["file"], r["sha256"]) for r in ledger if r["delivery_month"] == month}
    present = {(t, name, sha) for t, (name, sha) in files.items()}
    return bool(recorded) and recorded == present
