"""Landing -> lake + quarantine, validated against the data contracts; atomic and idempotent.

For every delivery month (in month order) and every table of the month's delivery:

1. read the file in one DuckDB scan that types every column as its contract says
   (:mod:`riskstrat.ingest.read`);
2. compute the riskstrat checks (ICD-10-CM, NPI, resends, duplicates, person in eligibility, ...)
   in DuckDB (:mod:`riskstrat.ingest.checks`);
3. validate the typed rows with the contract's Great Expectations suite (the riskstrat checks
   enter it as ``ok__<rule>`` columns), so one GX result lists every broken rule by row
   (:mod:`riskstrat.ingest.validate`);
4. quarantine every row that broke a row rule (with the rule, its original text and its line),
   refuse the table's delivery on a delivery rule, count warn rules;
5. stage the lake and quarantine partitions (the quarantine reads the file again for the original
   text of its rows), the validation results (and, for the newest month of the run, Data Docs) and
   the updated ``lake/_deliveries.parquet``; then commit the month with one
   :class:`riskstrat.ingest.transaction.Transaction`.

A month whose files have the same sha256 as when they were ingested is skipped: ingesting a
delivery again (or an identical resend) changes nothing. Errors and logs name the file, the row
number and the rule, never a value.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from riskstrat.config import IngestSettings, Settings, load_settings
from riskstrat.core.errors import RiskstratError
from riskstrat.core.fingerprint import sha256_file
from riskstrat.core.months import is_month
from riskstrat.core.progress import Progress, tick
from riskstrat.core.sql import identifier as _id
from riskstrat.core.sql import literal as _q
from riskstrat.core.sql import scalar
from riskstrat.core.workspace import (
    DELIVERIES_FILE,
    LAKE,
    LANDING,
    QUARANTINE,
    VALIDATION,
    landing_months,
    partition_path,
)
from riskstrat.ingest import state
from riskstrat.ingest.checks import build_checks
from riskstrat.ingest.contracts import TABLES, Contract, load_contracts
from riskstrat.ingest.ledger import month_up_to_date, read_deliveries, write_deliveries
from riskstrat.ingest.read import TableFailure, build_typed, find_delivery_files, raw_source
from riskstrat.ingest.transaction import Transaction, recover
from riskstrat.ingest.validate import Validator, gx_frame, save_result, violations

#: Rules that mark a row as redundant rather than bad: they do not count towards max_bad_row_share.
REDUNDANT_RULES = ("duplicate_row", "already_delivered")

#: zstd level 1 rather than DuckDB's default 3: 10-20% less CPU to write an eligibility month, and
#: on the benchmark plan the lake came out 3% smaller overall; readers see plain zstd either way.
PARQUET = "FORMAT parquet, COMPRESSION zstd, COMPRESSION_LEVEL 1"


class IngestError(RiskstratError):
    """Ingest cannot start (no landing folder, no such month); the message is one line."""


@dataclass
class TableResult:
    """The reconciliation of one table in one delivery: every row in is accepted or quarantined."""

    table: str
    delivery_month: str
    file: str | None
    status: str  # accepted | refused | failed | missing | unchanged
    rows_in: int | None = None
    rows_accepted: int = 0
    rows_quarantined: int = 0
    rows_warned: int = 0
    rule: str | None = None
    message: str | None = None
    rule_counts: dict[str, int] = field(default_factory=dict)
    sha256: str | None = None
    seconds: float = 0.0
    #: Header columns the data contract does not name: not read, so said (a misspelt optional
    #: column, ``hcpcs_cd`` say, would otherwise lose its values without a word).
    ignored_columns: str | None = None

    @property
    def balanced(self) -> bool:
        """rows in = accepted + quarantined (a failed file has no rows to account for)."""
        return self.rows_in is None or self.rows_in == self.rows_accepted + self.rows_quarantined

    def line(self) -> str:
        """One line for logs and errors: file and problem, never a value."""
        where = f"landing/{self.delivery_month}/{self.file}" if self.file else f"{self.table} ({self.delivery_month})"
        return f"{where}: {self.status}" + (f" [{self.rule}] {self.message}" if self.message else "")


@dataclass
class IngestReport:
    """What one ``ingest_workspace`` call did."""

    workspace: Path
    months: list[str]
    skipped: list[str]
    tables: list[TableResult]
    seconds: float

    @property
    def ok(self) -> bool:
        """No table of a processed month failed or was refused."""
        return not self.problems()

    def problems(self) -> list[str]:
        """One line per failed or refused table, and per required table the delivery lacks."""
        return [t.line() for t in self.tables if t.status in ("failed", "refused") or (t.status == "missing" and t.rule)]

    def notes(self) -> list[str]:
        """One line per table whose file had columns the contract does not name (read as absent)."""
        return [f"landing/{t.delivery_month}/{t.file}: column(s) not in the data contract, not read: {t.ignored_columns}"
                for t in self.tables if t.ignored_columns]

    def totals(self) -> dict[str, int]:
        """Rows in, accepted, quarantined over every processed table."""
        return {
            "rows_in": sum(t.rows_in or 0 for t in self.tables),
            "rows_accepted": sum(t.rows_accepted for t in self.tables),
            "rows_quarantined": sum(t.rows_quarantined for t in self.tables),
        }

    def to_records(self) -> list[dict[str, Any]]:
        """The reconciliation as plain dicts (for the CLI, the run report and the flow)."""
        return [asdict(t) for t in self.tables]


def ingest_workspace(
    workspace: Path | str,
    month: str | None = None,
    settings: Settings | IngestSettings | None = None,
    progress: Progress | None = None,
) -> IngestReport:
    """Ingest ``month`` (or every delivery month not yet ingested or changed since), in month order.

    Returns the reconciliation per table and delivery. A month is committed whole or not at all;
    a table that cannot be read or is refused is reported and the rest of the month still goes in.
    """
    t0 = time.perf_counter()
    workspace = Path(workspace)
    if settings is None:
        settings = load_settings(workspace)
    ing = settings.ingest if isinstance(settings, Settings) else settings
    if not (workspace / LANDING).is_dir():
        raise IngestError(f"{workspace / LANDING}: no landing folder (deliveries go in landing/YYYY-MM/)")
    all_months = landing_months(workspace)
    if month is not None:
        if not is_month(month):
            raise IngestError(f"{month!r} is not a month in YYYY-MM form")
        if month not in all_months:
            raise IngestError(f"{workspace / LANDING / month}: no such delivery folder")
    recover(workspace)
    contracts = load_contracts(ing.contracts_dir)
    ledger = read_deliveries(workspace)

    candidates = [month] if month else all_months
    todo: list[tuple[str, dict[str, Path], dict[str, str]]] = []
    skipped: list[str] = []
    for m in candidates:
        files, _ = find_delivery_files(workspace / LANDING / m)
        shas = {t: (p.name, sha256_file(p)) for t, p in files.items()}
        if month_up_to_date(m, shas, ledger):
            skipped.append(m)
        else:
            todo.append((m, files, {t: s for t, (_, s) in shas.items()}))

    results: list[TableResult] = []
    if todo:
        con = duckdb.connect(config={"threads": ing.threads, "memory_limit": ing.memory_limit})
        con.execute("SET enable_progress_bar = false")  # the CLI draws its own progress
        state.init(con)
        loaded: set[str] = set()
        ingested = sorted({r["delivery_month"] for r in ledger if r["status"] == "accepted"})
        for i, (m, files, shas) in enumerate(todo):
            for earlier in ingested:
                if earlier < m and earlier not in loaded:
                    state.load_month(con, workspace, earlier, contracts)
                    loaded.add(earlier)
            tick(progress, "ingest deliveries", i, len(todo))
            # rendering a month's Data Docs costs about what validating it does: one site, the newest month's
            docs = ing.data_docs and i == len(todo) - 1
            month_results = _ingest_month(con, workspace, m, files, shas, contracts, ing, ledger, docs)
            results += month_results
            ledger = read_deliveries(workspace)
            loaded.add(m)
        tick(progress, "ingest deliveries", len(todo), len(todo))
        con.close()
    return IngestReport(workspace, [m for m, _, _ in todo], skipped, results, round(time.perf_counter() - t0, 3))


def _read_manifest(month_dir: Path) -> tuple[dict | None, str | None]:
    p = month_dir / "_manifest.json"
    if not p.exists():
        return None, None
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise ValueError
        return data, None
    except (ValueError, UnicodeDecodeError):
        return None, "_manifest.json is not a JSON object of {table: {rows, sha256}}"


def _ingest_month(con, workspace: Path, month: str, files: dict[str, Path], shas: dict[str, str],
                  contracts: dict[str, Contract], ing: IngestSettings, ledger: list[dict[str, Any]],
                  docs: bool) -> list[TableResult]:
    txn = Transaction(workspace)
    try:
        month_dir = workspace / LANDING / month
        manifest, manifest_problem = _read_manifest(month_dir)
        results_dir = txn.stage / VALIDATION / month
        validator = Validator(results_dir / "data_docs" if docs else None, month)
        out: list[TableResult] = []
        cur_people = cur_spans = now_ready = False
        for table in TABLES:
            contract = contracts[table]
            path = files.get(table)
            if path is None:
                out.append(TableResult(table, month, None, "missing",
                                       message=None if contract.optional else "no file for this table in the delivery",
                                       rule=None if contract.optional else "readable"))
                continue
            if table != "eligibility" and not now_ready:  # eligibility comes first; the rest share its state
                state.set_now_views(con, cur_people, cur_spans)
                now_ready = True
            t_start = time.perf_counter()
            try:
                if manifest_problem:
                    raise TableFailure("manifest_rows", manifest_problem)
                res = _ingest_table(con, contract, month, path, shas[table], manifest, ing, validator, txn, results_dir)
            except TableFailure as exc:
                res = TableResult(table, month, path.name, "failed", rule=exc.rule, message=str(exc), sha256=shas[table],
                                  seconds=round(time.perf_counter() - t_start, 3), ignored_columns=exc.ignored_columns)
                for area in (LAKE, QUARANTINE):
                    staged = txn.stage / partition_path(".", area, table, month)
                    staged.unlink(missing_ok=True)
            if table == "eligibility" and res.status in ("accepted", "refused"):
                con.execute("CREATE OR REPLACE TEMP TABLE cur_people AS SELECT DISTINCT person_id, member_id FROM typed")
                cur_people = True
            if table == "eligibility" and res.status == "accepted":
                con.execute("CREATE OR REPLACE TEMP TABLE cur_spans AS SELECT DISTINCT person_id, enrollment_start_date, "
                            "enrollment_end_date FROM typed t ANTI JOIN bad b ON b.source_row = t.source_row")
                cur_spans = True
            if contract.kind == "incremental" and res.status == "accepted":
                con.execute(f"CREATE OR REPLACE TEMP TABLE new_seen_{table} AS SELECT t.row_hash AS h FROM typed t "
                            "ANTI JOIN bad b ON b.source_row = t.source_row")
            out.append(res)
        if docs:
            validator.build_docs()
        # partitions of this month from an earlier ingest that this one does not replace
        for table in TABLES:
            for area in (LAKE, QUARANTINE):
                rel = partition_path(".", area, table, month)
                if (workspace / rel).exists() and not (txn.stage / rel).exists():
                    txn.remove(rel)
        if (workspace / VALIDATION / month).exists():
            for p in (workspace / VALIDATION / month).rglob("*"):
                if p.is_file() and not (txn.stage / p.relative_to(workspace)).exists():
                    txn.remove(p.relative_to(workspace))
        now = datetime.now(timezone.utc)
        rows = [r for r in ledger if r["delivery_month"] != month]
        for res in out:
            if res.status == "missing":
                continue
            d = asdict(res)
            d["rule_counts"] = json.dumps(res.rule_counts, sort_keys=True)
            d["contract_version"] = contracts[res.table].version
            d["ingested_at"] = now
            rows.append(d)
        (results_dir).mkdir(parents=True, exist_ok=True)
        (results_dir / "summary.json").write_text(
            json.dumps({"delivery_month": month, "tables": [asdict(r) for r in out]}, indent=1, default=str), encoding="utf-8"
        )
        write_deliveries(txn.stage / LAKE / DELIVERIES_FILE, rows)
        del validator  # a GX context per month: let it go before the next
        if any(r.status == "accepted" for r in out):
            state.remember_month(con, month, cur_people, cur_spans)
        con.execute("DROP VIEW IF EXISTS typed")
        for t in ("typed_rows", "checks", "redundant", "violations", "bad", *(f"new_seen_{t}" for t in TABLES)):
            con.execute(f"DROP TABLE IF EXISTS {t}")
        txn.commit()
    except BaseException:
        txn.abort()
        raise
    return out


def _rule_order(contract: Contract) -> dict[str, int]:
    names = list(REDUNDANT_RULES) + ["required", "type"] + contract.rule_names()
    return {n: i for i, n in enumerate(dict.fromkeys(names))}


def _ingest_table(con, contract: Contract, month: str, path: Path, sha: str, manifest: dict | None,
                  settings: IngestSettings, validator: Validator, txn: Transaction, results_dir: Path) -> TableResult:
    t0 = time.perf_counter()
    res = TableResult(contract.table, month, path.name, "accepted", sha256=sha)
    source, present = raw_source(con, path)
    res.ignored_columns = ", ".join(c for c in present if c not in contract.column_names) or None
    missing = [c for c in contract.required_columns if c not in present]
    if missing:
        raise TableFailure("required_columns", f"missing required column{'s' if len(missing) > 1 else ''} {', '.join(missing)}",
                           res.ignored_columns)
    build_typed(con, contract, source, present, path)
    n = scalar(con, "SELECT count(*) FROM typed")
    res.rows_in = n
    refusal: tuple[str, str] | None = None
    if manifest is not None and contract.table in manifest:
        entry = manifest[contract.table] or {}
        if "rows" in entry and int(entry["rows"]) != n:
            refusal = ("manifest_rows", f"_manifest.json says {int(entry['rows'])} rows, the file has {n}")
        elif entry.get("sha256") and str(entry["sha256"]).lower() != sha:
            refusal = ("manifest_sha256", "sha256 differs from _manifest.json")
    build_checks(con, contract, month)
    frame = gx_frame(con, contract)
    result, index_rows = validator.validate(contract, frame, settings.min_service_date)
    del frame
    viol, broken = violations(result, index_rows, contract, con)
    if broken:
        raise TableFailure("readable", f"rule{'s' if len(broken) > 1 else ''} {', '.join(sorted(set(broken)))} could not be evaluated")
    order = _rule_order(contract)
    con.execute("DROP TABLE IF EXISTS violations")
    con.execute("CREATE TEMP TABLE violations (source_row BIGINT, rule VARCHAR, col VARCHAR, severity VARCHAR, ord INTEGER)")
    if viol:
        tbl = pa.table({
            "source_row": pa.array([v[0] for v in viol], pa.int64()),
            "rule": [v[1] for v in viol], "col": [v[2] for v in viol], "severity": [v[3] for v in viol],
            "ord": pa.array([order.get(v[1], 999) for v in viol], pa.int32()),
        })
        con.register("_viol", tbl)
        con.execute("INSERT INTO violations SELECT * FROM _viol")
        con.unregister("_viol")
    counts = con.execute(
        "SELECT rule, count(DISTINCT source_row) FROM violations GROUP BY rule ORDER BY min(ord), rule"
    ).fetchall()
    res.rule_counts = {r: int(c) for r, c in counts}
    res.rows_warned = scalar(con, "SELECT count(DISTINCT source_row) FROM violations WHERE severity = 'warn'")
    con.execute("DROP TABLE IF EXISTS bad")
    con.execute(
        "CREATE TEMP TABLE bad AS SELECT source_row, arg_min(rule, ord) AS rule, arg_min(col, ord) AS col, "
        "string_agg(DISTINCT rule, ',' ORDER BY rule) AS rules, "
        "string_agg(rule || CASE WHEN col IS NULL THEN '' ELSE ':' || col END, ';' ORDER BY ord, col) AS detail, "
        f"bool_and(rule IN ({', '.join(_q(r) for r in REDUNDANT_RULES)})) AS redundant_only "
        "FROM violations WHERE severity = 'row' GROUP BY source_row"
    )
    n_really_bad = scalar(con, "SELECT count(*) FILTER (WHERE NOT redundant_only) FROM bad")
    if refusal is None and n >= max(settings.min_rows_for_share, 1) and n_really_bad / n > settings.max_bad_row_share:
        refusal = ("bad_row_share", f"{n_really_bad} of {n} rows ({n_really_bad / n:.1%}) break row rules; "
                                    f"the limit is {settings.max_bad_row_share:.1%}")
    # -- quarantine: original text, rule, lineage
    raw_cols = ", ".join(
        f"CAST(raw.{_id(c)} AS VARCHAR) AS {_id(c)}" if c in present else f"CAST(NULL AS VARCHAR) AS {_id(c)}"
        for c in contract.column_names
    )
    if refusal:
        res.status, res.rule, res.message = "refused", refusal[0], refusal[1]
        where, rule_sql = "true", f"{_q(refusal[0])} AS rule, CAST(NULL AS VARCHAR) AS \"column\", " \
            f"concat_ws(',', {_q(refusal[0])}, b.rules) AS rules, b.detail AS detail"
        join = "LEFT JOIN bad b ON b.source_row = t.source_row"
    else:
        where, rule_sql = "true", "b.rule AS rule, b.col AS \"column\", b.rules AS rules, b.detail AS detail"
        join = "JOIN bad b ON b.source_row = t.source_row"
    q_path = txn.stage / partition_path(".", QUARANTINE, contract.table, month)
    n_q = scalar(con, f"SELECT count(*) FROM typed t {join}")
    if n_q:
        q_path.parent.mkdir(parents=True, exist_ok=True)
        con.execute(
            f"COPY (SELECT {raw_cols}, {rule_sql}, t.source_file, t.source_row, t.row_hash "
            f"FROM typed t JOIN (SELECT row_number() OVER () AS _row, * FROM {source}) raw ON raw._row = t.source_row "
            f"{join} WHERE {where} ORDER BY t.source_row) "
            f"TO {_q(q_path)} ({PARQUET})"
        )
    res.rows_quarantined = n_q
    # -- lake: accepted rows, typed
    if not refusal:
        cols = []
        for c in contract.column_names:
            if contract.table == "ed_visit" and c == "person_id":
                cols.append("COALESCE(t.person_id, mm.person_id) AS person_id")
            else:
                cols.append(f"t.{_id(c)}")
        extra = "LEFT JOIN member_now mm ON mm.member_id = t.member_id" if contract.table == "ed_visit" else ""
        l_path = txn.stage / partition_path(".", LAKE, contract.table, month)
        l_path.parent.mkdir(parents=True, exist_ok=True)
        # typed is in source_row order and DuckDB keeps insertion order: sort only after a join
        tail = f"{extra} ANTI JOIN bad b ON b.source_row = t.source_row ORDER BY t.source_row" if n_q or extra else ""
        con.execute(
            f"COPY (SELECT {', '.join(cols)}, t.source_file, t.source_row, t.row_hash FROM typed t {tail}) "
            f"TO {_q(l_path)} ({PARQUET})"
        )
        res.rows_accepted = n - n_q
    res.seconds = round(time.perf_counter() - t0, 3)
    save_result(results_dir, contract, asdict(res), result, index_rows)
    return res
