"""The lake: what ingest writes and every later stage reads (see docs/lake.md).

- :func:`connect` gives a DuckDB connection with one view per table over the Parquet files
  (an empty, typed view where a table has no data yet), plus ``_deliveries``.
- :func:`final_claims` applies the final-claim rule as known at the end of a month.
- :class:`Transaction` is how ingest changes the lake: files are written to a staging folder,
  then moved into place; a failure at any point (or a crash, recovered on the next ingest)
  leaves ``lake/``, ``quarantine/`` and ``validation/`` exactly as they were.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import uuid
from datetime import date
from importlib import resources
from pathlib import Path

import duckdb

from riskstrat.contracts import TABLES, load_contract, month_end

LINEAGE_COLUMNS = {"source_file": "VARCHAR", "source_row": "BIGINT", "row_hash": "UBIGINT"}
DELIVERIES_FILE = "_deliveries.parquet"
#: Folders a transaction may change, relative to the workspace.
MANAGED = ("lake", "quarantine", "validation")
STAGING = ".riskstrat-staging"


def lake_dir(workspace: Path | str) -> Path:
    """``W/lake``."""
    return Path(workspace) / "lake"


def partition_path(workspace: Path | str, area: str, table: str, month: str) -> Path:
    """``W/<area>/<table>/delivery_month=YYYY-MM/part-0.parquet`` (area: lake or quarantine)."""
    return Path(workspace) / area / table / f"delivery_month={month}" / "part-0.parquet"


def _sql_str(value: str | Path) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def _empty_view_sql(table: str) -> str:
    contract = load_contract(table)
    cols = [f"CAST(NULL AS {c.duckdb_type}) AS {c.name}" for c in contract.columns]
    cols += [f"CAST(NULL AS {t}) AS {n}" for n, t in LINEAGE_COLUMNS.items()]
    cols.append("CAST(NULL AS VARCHAR) AS delivery_month")
    return "SELECT " + ", ".join(cols) + " WHERE false"


def table_source_sql(workspace: Path | str, table: str, area: str = "lake") -> str:
    """A SELECT over every partition of ``table`` in ``area`` (typed and empty when there is none)."""
    root = Path(workspace) / area / table
    if any(root.glob("delivery_month=*/part-0.parquet")):
        pattern = _sql_str(root / "delivery_month=*" / "part-0.parquet")
        return (f"SELECT * FROM read_parquet({pattern}, hive_partitioning = true, "
                f"hive_types = {{'delivery_month': VARCHAR}}, union_by_name = true)")
    if area == "lake":
        return _empty_view_sql(table)
    return "SELECT CAST(NULL AS VARCHAR) AS rule, CAST(NULL AS VARCHAR) AS delivery_month WHERE false"


def connect(workspace: Path | str, database: str = ":memory:") -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with one view per lake table, ``quarantine_<table>`` and ``_deliveries``."""
    con = duckdb.connect(database)
    # Commands draw their own progress. Inside a Jupyter kernel DuckDB already keeps the bar off
    # and refuses the setting outright, so it is only switched off where it is on.
    if con.execute("SELECT current_setting('enable_progress_bar')").fetchone()[0]:
        con.execute("SET enable_progress_bar = false")
    for table in TABLES:
        con.execute(f"CREATE OR REPLACE VIEW {table} AS {table_source_sql(workspace, table)}")
        con.execute(f"CREATE OR REPLACE VIEW quarantine_{table} AS {table_source_sql(workspace, table, 'quarantine')}")
    deliveries = lake_dir(workspace) / DELIVERIES_FILE
    if deliveries.exists():
        con.execute(f"CREATE OR REPLACE VIEW _deliveries AS SELECT * FROM read_parquet({_sql_str(deliveries)})")
    else:
        con.execute(
            "CREATE OR REPLACE VIEW _deliveries AS SELECT CAST(NULL AS VARCHAR) AS \"table\", "
            "CAST(NULL AS VARCHAR) AS delivery_month, CAST(NULL AS VARCHAR) AS status WHERE false"
        )
    return con


def final_claims_sql(table: str = "medical_claim", lines: str | None = None) -> str:
    """The final-claim rule (``sql/final_claims.sql``) for ``medical_claim`` or ``pharmacy_claim``.

    Parameters: ``$as_of_month`` (YYYY-MM) and ``$as_of`` (the last day of that month). ``lines``,
    a SELECT with the table's columns, stands in for the whole table (the feature build passes
    only the claims that can matter for its window).
    """
    if table not in ("medical_claim", "pharmacy_claim"):
        raise ValueError(f"final claims exist for medical_claim and pharmacy_claim, not {table!r}")
    text = resources.files("riskstrat").joinpath("sql/final_claims.sql").read_text(encoding="utf-8")
    return text.replace("{claims}", table if lines is None else f"(\n{lines}\n)")


def final_claims(con: duckdb.DuckDBPyConnection, as_of_month: str, table: str = "medical_claim") -> duckdb.DuckDBPyRelation:
    """Final claim lines as known at the end of ``as_of_month`` (see docs/lake.md), with ``is_denied``.

    Returns a lazy DuckDB relation (filter, project or join it further).
    """
    if not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", as_of_month):
        raise ValueError(f"{as_of_month!r} is not a month in YYYY-MM form")
    sql = final_claims_sql(table).replace("$as_of_month", f"'{as_of_month}'")
    sql = sql.replace("$as_of", f"DATE '{month_end(as_of_month).isoformat()}'")
    return con.sql(sql)


# --- transactions -------------------------------------------------------------------------

def _replace(src: Path, dst: Path) -> None:
    """Move one file into place (one ``os.replace``; tests inject failures here)."""
    os.replace(src, dst)


class Transaction:
    """Stage files under ``W/.riskstrat-staging/<id>/``; :meth:`commit` moves them into place.

    Write every new file below :attr:`stage` at its path relative to the workspace (e.g.
    ``stage / "lake/eligibility/delivery_month=2025-11/part-0.parquet"``), list files to delete
    with :meth:`remove`, then :meth:`commit`. A failure inside ``commit`` rolls back; a crash
    leaves a journal that :func:`recover` (called at the start of every ingest) rolls back.
    """

    def __init__(self, workspace: Path | str):
        self.workspace = Path(workspace)
        self.root = self.workspace / STAGING / uuid.uuid4().hex[:12]
        self.stage = self.root / "new"
        self.backup = self.root / "old"
        self.stage.mkdir(parents=True)
        self._remove: list[str] = []

    def remove(self, relative: str | Path) -> None:
        """Delete this workspace file (or folder of files) when the transaction commits."""
        self._remove.append(str(relative))

    def abort(self) -> None:
        """Forget everything staged; the workspace is untouched."""
        shutil.rmtree(self.root, ignore_errors=True)

    def commit(self) -> None:
        """Move staged files into place; on any failure put everything back and re-raise."""
        staged = sorted(str(p.relative_to(self.stage)) for p in self.stage.rglob("*") if p.is_file())
        removed: list[str] = []
        for rel in self._remove:
            target = self.workspace / rel
            if target.is_dir():
                removed += [str(p.relative_to(self.workspace)) for p in target.rglob("*") if p.is_file()]
            elif target.exists():
                removed.append(rel)
        for rel in staged + removed:
            top = Path(rel).parts[0]
            if top not in MANAGED:
                raise ValueError(f"a transaction may only change {', '.join(MANAGED)}, not {rel}")
        journal = {"staged": staged, "replaced": sorted(set(staged + removed))}
        tmp = self.root / "journal.json.tmp"
        tmp.write_text(json.dumps(journal), encoding="utf-8")
        os.replace(tmp, self.root / "journal.json")
        try:
            for rel in journal["replaced"]:
                target = self.workspace / rel
                if target.exists():
                    (self.backup / rel).parent.mkdir(parents=True, exist_ok=True)
                    _replace(target, self.backup / rel)
            for rel in staged:
                target = self.workspace / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                _replace(self.stage / rel, target)
        except BaseException:
            _rollback(self.workspace, self.root)
            raise
        _prune_empty_dirs(self.workspace, removed)
        shutil.rmtree(self.root, ignore_errors=True)


def _prune_empty_dirs(workspace: Path, relatives: list[str]) -> None:
    for rel in relatives:
        parent = (workspace / rel).parent
        while parent != workspace and parent.name not in MANAGED:
            try:
                parent.rmdir()
            except OSError:
                break
            parent = parent.parent


def _rollback(workspace: Path, root: Path) -> None:
    journal_path = root / "journal.json"
    if journal_path.exists():
        journal = json.loads(journal_path.read_text(encoding="utf-8"))
        stage, backup = root / "new", root / "old"
        created: list[str] = []
        for rel in journal["staged"]:
            if not (stage / rel).exists() and (workspace / rel).exists():
                os.remove(workspace / rel)  # it was moved in: take it out again
                created.append(rel)
        for old in sorted(p for p in backup.rglob("*") if p.is_file()):
            rel = old.relative_to(backup)
            (workspace / rel).parent.mkdir(parents=True, exist_ok=True)
            os.replace(old, workspace / rel)
        _prune_empty_dirs(workspace, created)
    shutil.rmtree(root, ignore_errors=True)


def recover(workspace: Path | str) -> int:
    """Roll back any transaction a crash left behind; returns how many were rolled back."""
    base = Path(workspace) / STAGING
    if not base.exists():
        return 0
    n = 0
    for root in sorted(p for p in base.iterdir() if p.is_dir()):
        n += (root / "journal.json").exists()
        _rollback(Path(workspace), root)
    shutil.rmtree(base, ignore_errors=True)
    return n


def as_of_date(month: str) -> date:
    """The as-of date of a month: its last day."""
    return month_end(month)
