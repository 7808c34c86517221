"""Landing -> lake + quarantine, validated against the data contracts; atomic and idempotent.

For every delivery month (in month order) and every table of the month's delivery:

1. read the file (.csv, .csv.gz or .parquet; comma or pipe delimited) in one DuckDB scan that
   types every column as its contract says and normalises codes (docs/lake.md), remembering each
   row's 1-based line number (``source_row``);
2. compute the riskstrat checks (ICD-10-CM, NPI, resends, duplicates, person in eligibility, ...)
   in DuckDB;
3. validate the typed rows with the contract's Great Expectations suite (the riskstrat checks
   enter it as ``ok__<rule>`` columns), so one GX result lists every broken rule by row;
4. quarantine every row that broke a row rule (with the rule, its original text and its line),
   refuse the table's delivery on a delivery rule, count warn rules;
5. stage the lake and quarantine partitions (the quarantine reads the file again for the original
   text of its rows), the validation results (and, for the newest month of the run, Data Docs) and
   the updated ``lake/_deliveries.parquet``; then commit the month with one
   :class:`riskstrat.lake.Transaction`.

A month whose files have the same sha256 as when they were ingested is skipped: ingesting a
delivery again (or an identical resend) changes nothing. Errors and logs name the file, the row
number and the rule, never a value.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import os
import re
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from riskstrat.config import IngestSettings, Settings, load_settings
from riskstrat.contracts import TABLES, Contract, compile_suite, gx_columns, gx_presence_only, load_contracts
from riskstrat.lake import DELIVERIES_FILE, Transaction, partition_path, recover
from riskstrat.provenance import sha256_file

Progress = Callable[[str, int, int], None]
MONTH_RE = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
SUFFIXES = (".csv", ".csv.gz", ".parquet")
#: Rules that mark a row as redundant rather than bad: they do not count towards max_bad_row_share.
REDUNDANT_RULES = ("duplicate_row", "already_delivered")
#: zstd level 1 rather than DuckDB's default 3: 10-20% less CPU to write an eligibility month, and
#: on the benchmark plan the lake came out 3% smaller overall; readers see plain zstd either way.
PARQUET = "FORMAT parquet, COMPRESSION zstd, COMPRESSION_LEVEL 1"
DELIVERY_COLUMNS = {
    "table": pa.string(), "delivery_month": pa.string(), "file": pa.string(), "sha256": pa.string(),
    "status": pa.string(), "rule": pa.string(), "message": pa.string(), "rows_in": pa.int64(),
    "rows_accepted": pa.int64(), "rows_quarantined": pa.int64(), "rows_warned": pa.int64(),
    "rule_counts": pa.string(), "contract_version": pa.string(), "ingested_at": pa.timestamp("us", tz="UTC"),
}


class IngestError(RuntimeError):
    """Ingest cannot start (no landing folder, no such month); the message is one line."""


class TableFailure(Exception):
    """A table's file cannot be used; ``rule`` is the delivery rule, the message one line without values."""

    def __init__(self, rule: str, message: str):
        super().__init__(message)
        self.rule = rule


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
        """One line per failed or refused table."""
        return [t.line() for t in self.tables if t.status in ("failed", "refused")]

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


# --- reading --------------------------------------------------------------------------------

def find_delivery_files(month_dir: Path) -> tuple[dict[str, Path], list[str]]:
    """``{table: file}`` for a delivery folder, and the names of files no contract claims."""
    found: dict[str, Path] = {}
    other: list[str] = []
    for p in sorted(month_dir.iterdir()):
        if not p.is_file() or p.name == "_manifest.json":
            continue
        table = next((p.name[: -len(s)] for s in SUFFIXES if p.name.endswith(s)), None)
        if table in TABLES and table not in found:
            found[table] = p
        else:
            other.append(p.name)
    return found, other


def _first_line(path: Path) -> str:
    opener = gzip.open if path.name.endswith(".gz") else open
    try:
        with opener(path, "rb") as f:
            raw = f.readline(1 << 20)
    except (OSError, EOFError) as exc:
        raise TableFailure("readable", f"not a readable gzip file ({type(exc).__name__})") from None
    try:
        return raw.decode("utf-8").lstrip("\ufeff").rstrip("\r\n")
    except UnicodeDecodeError:
        raise TableFailure("readable", "not UTF-8 text (the header row has bytes of another encoding)") from None


def _explain_read_error(exc: Exception, gz: bool) -> str:
    text = str(exc)
    low = text.lower()
    line = re.search(r"line[: ]+(\d+)", text, re.IGNORECASE)
    at = f" near line {line.group(1)}" if line else ""
    if "unicode" in low or "utf-8" in low or "utf8" in low or "encoding" in low:
        return f"not UTF-8 text{at}"
    if gz and ("gzip" in low or "compress" in low or "unexpected end" in low or "truncated" in low or "zlib" in low):
        return "truncated or corrupt gzip file"
    if "expected" in low and "column" in low or "too many" in low or "fewer" in low:
        return f"a row has the wrong number of fields{at}"
    return f"cannot be read as CSV{at} ({type(exc).__name__})"


def raw_source(con: duckdb.DuckDBPyConnection, path: Path) -> tuple[str, list[str]]:
    """(a DuckDB relation over the delivery file: every column as text, in file order; its columns).

    Nothing is read beyond the header here: the relation is scanned once to type the rows
    (:func:`build_typed`) and again only for the rows that go to quarantine. Raises
    :class:`TableFailure` (rule ``readable``) with a one-line reason when the file cannot be opened.
    """
    if path.name.endswith(".parquet"):
        try:
            desc = con.execute(f"DESCRIBE SELECT * FROM read_parquet({_q(path)})").fetchall()
        except duckdb.Error as exc:
            raise _read_failure(exc, path) from None
        cols = [d[0] for d in desc]
        select = ", ".join(f"CAST({_id(c)} AS VARCHAR) AS {_id(c)}" for c in cols)
        return f"(SELECT {select} FROM read_parquet({_q(path)}))", cols
    header = _first_line(path)
    if not header.strip():
        raise TableFailure("readable", "empty file or empty header row")
    delim = "|" if header.count("|") > header.count(",") else ","
    names = next(csv.reader(io.StringIO(header), delimiter=delim))
    cols, seen = [], set()
    for n in names:
        n = n.strip()
        while n in seen:
            n += "_dup"
        seen.add(n)
        cols.append(n)
    columns = "{" + ", ".join(f"{_q(c)}: 'VARCHAR'" for c in cols) + "}"
    return (f"read_csv({_q(path)}, delim = {_q(delim)}, header = true, quote = '\"', escape = '\"', "
            f"columns = {columns}, auto_detect = false, compression = 'auto', null_padding = false)"), cols


def _read_failure(exc: duckdb.Error, path: Path) -> TableFailure:
    if path.name.endswith(".parquet"):
        return TableFailure("readable", f"not a readable Parquet file ({type(exc).__name__})")
    return TableFailure("readable", _explain_read_error(exc, path.name.endswith(".gz")))


def _q(value: Any) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def _id(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


# --- typing and normalisation ----------------------------------------------------------------

_INT = r"[+-]?[0-9]+"
_NUM = r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)"
_DATE = r"[0-9]{4}-[0-9]{2}-[0-9]{2}( 00:00:00)?"
_TS = r"[0-9]{4}-[0-9]{2}-[0-9]{2}([ T][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?)?(Z|[+-][0-9]{2}(:?[0-9]{2})?)?"


def _normalise(expr: str, how: str | None) -> str:
    if how is None or how == "trim":
        return expr
    if how == "icd10cm":
        return f"upper(replace({expr}, '.', ''))"
    if how == "upper":
        return f"upper({expr})"
    if how == "pad2":
        return f"CASE WHEN regexp_full_match({expr}, '[0-9]') THEN '0' || {expr} ELSE {expr} END"
    if how == "pad4":
        return f"CASE WHEN regexp_full_match({expr}, '[0-9]{{3}}') THEN '0' || {expr} ELSE {expr} END"
    if how == "bill_type":
        return f"CASE WHEN regexp_full_match({expr}, '0[0-9]{{3}}') THEN substr({expr}, 2) ELSE {expr} END"
    if how == "ndc":
        s = f"string_split({expr}, '-')"
        return (
            f"CASE WHEN regexp_full_match({expr}, '[0-9]{{4}}-[0-9]{{4}}-[0-9]{{2}}') THEN '0' || replace({expr}, '-', '') "
            f"WHEN regexp_full_match({expr}, '[0-9]{{5}}-[0-9]{{3}}-[0-9]{{2}}') THEN {s}[1] || '0' || {s}[2] || {s}[3] "
            f"WHEN regexp_full_match({expr}, '[0-9]{{5}}-[0-9]{{4}}-[0-9]{{1}}') THEN {s}[1] || {s}[2] || '0' || {s}[3] "
            f"WHEN regexp_full_match({expr}, '[0-9]{{5}}-[0-9]{{4}}-[0-9]{{2}}') THEN replace({expr}, '-', '') "
            f"ELSE {expr} END"
        )
    if how == "claim_status":
        return f"COALESCE({expr}, 'paid')"
    if how == "adjustment_sequence":
        return expr
    raise ValueError(f"unknown normalisation {how!r}")


def _typed_expr(col, raw: str) -> tuple[str, bool]:
    """(typed value expression over the column's text ``raw``, whether a text can fail to parse)."""
    t = col.logical_type
    if t == "string":
        return _normalise(raw, col.normalize), False
    if t == "integer":
        val = f"CASE WHEN regexp_full_match({raw}, '{_INT}') THEN TRY_CAST({raw} AS BIGINT) END"
        if col.normalize == "adjustment_sequence":
            val = f"CASE WHEN {raw} IS NULL THEN CAST(0 AS BIGINT) ELSE {val} END"
    elif t == "number":
        val = f"CASE WHEN regexp_full_match({raw}, '{_NUM}') THEN TRY_CAST({raw} AS DOUBLE) END"
    elif t == "date":
        val = f"CASE WHEN regexp_full_match({raw}, '{_DATE}') THEN TRY_CAST(left({raw}, 10) AS DATE) END"
    elif t == "timestamp":
        val = (f"CASE WHEN regexp_full_match({raw}, '{_TS}') THEN COALESCE(TRY_CAST({raw} AS TIMESTAMP), "
               f"CAST(TRY_CAST({raw} AS TIMESTAMPTZ) AS TIMESTAMP)) END")
    else:  # pragma: no cover - contracts.py refuses other types
        raise ValueError(t)
    return val, True


def typed_select(contract: Contract, source: str, present: list[str], path: Path) -> str:
    """The SELECT that types a delivery file: every contract column typed and normalised, ok__type, row_hash.

    One scan of the file (``source``, from :func:`raw_source`), in three stacked projections: the
    trimmed text of each column, then its typed value, then the flags and hash over both. DuckDB
    does not share a CASE expression between the places that use it, so stacking is what keeps
    each text and value computed once. ``row_hash`` is DuckDB's 64-bit ``hash()`` of the typed
    values (the delivered text where one does not parse), so a row resent as Parquet after
    arriving as CSV is still recognised. Its formula is part of the lake: rows already there are
    matched against resends by it, so changing it would let a resend of them in twice.
    """
    names, texts, values, malformed, hashed = [], [], [], [], []
    for i, col in enumerate(contract.columns):
        text, name = f"_text{i}", _id(col.name)
        names.append(name)
        texts.append(f"{_present_text(name) if col.name in present else 'CAST(NULL AS VARCHAR)'} AS {text}")
        val, can_fail = _typed_expr(col, text)
        values.append(f"{val} AS {name}")
        if can_fail:
            malformed.append((col.name, f"({text} IS NOT NULL AND {name} IS NULL)"))
            hashed.append(f"COALESCE(CAST({name} AS VARCHAR), '!' || {text}, chr(30))")
        else:
            hashed.append(name)
    if malformed:
        flags = ["NOT (" + " OR ".join(b for _, b in malformed) + ") AS ok__type",
                 "CASE " + " ".join(f"WHEN {b} THEN {_q(n)}" for n, b in malformed) + " END AS bad_col__type"]
    else:
        flags = ["true AS ok__type", "CAST(NULL AS VARCHAR) AS bad_col__type"]
    flags.append(f"hash({', '.join(hashed)}) AS row_hash")
    return (f"SELECT {', '.join(names)}, {', '.join(flags)}, {_q(path.name)} AS source_file "
            f"FROM (SELECT *, {', '.join(values)} FROM (SELECT {', '.join(texts)} FROM {source}))")


def build_typed(con: duckdb.DuckDBPyConnection, contract: Contract, source: str, present: list[str], path: Path) -> None:
    """Temp view ``typed``: source_row and the columns of :func:`typed_select`, in file order."""
    select = typed_select(contract, source, present, path)
    con.execute("DROP VIEW IF EXISTS typed")
    con.execute("DROP TABLE IF EXISTS typed_rows")
    try:
        # DuckDB keeps file order in the table (insertion order), so rowid + 1 is the line
        # number; a row_number() window would type the whole file on one thread
        con.execute(f"CREATE TEMP TABLE typed_rows AS {select}")
        con.execute("CREATE TEMP VIEW typed AS SELECT rowid + 1 AS source_row, * FROM typed_rows")
    except (duckdb.BinderException, duckdb.ParserException, duckdb.CatalogException):
        raise  # a fault in this SQL, not in the file
    except duckdb.Error as exc:  # the scan reads the file: a bad row, gzip or encoding surfaces here
        raise _read_failure(exc, path) from None


def _present_text(column: str) -> str:
    """The value without surrounding spaces, NULL when empty.

    trim() copies every string; testing the ends first leaves the (usual) clean value as it is.
    """
    return f"NULLIF(CASE WHEN {column} LIKE ' %' OR {column} LIKE '% ' THEN trim({column}) ELSE {column} END, '')"


# --- riskstrat checks --------------------------------------------------------------------------

_BILLABLE: frozenset[str] | None = None


def _icd_cache_file() -> Path | None:
    """Where the billable code list of the installed simple-icd-10-cm version is kept (None: no home folder).

    The package stays the source of truth: the file is named after its version, so upgrading
    (or downgrading) it reads the package again. Deleting the folder is always safe.
    """
    from importlib.metadata import version

    try:
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    except RuntimeError:
        return None
    return base / "riskstrat" / f"icd10cm-billable-simple_icd_10_cm-{version('simple_icd_10_cm')}.txt"


def billable_icd10cm() -> frozenset[str]:
    """Every billable ICD-10-CM code (a leaf of simple-icd-10-cm's code table), uppercase without the dot.

    Importing simple-icd-10-cm parses its XML tables (3-5 CPU seconds); that is done once per
    package version and the result kept in :func:`_icd_cache_file` (half a MB, read in a few ms).
    """
    global _BILLABLE
    if _BILLABLE is None:
        cache = _icd_cache_file()
        try:
            _BILLABLE = frozenset(cache.read_text(encoding="ascii").split()) if cache is not None else None
        except (OSError, UnicodeDecodeError):
            _BILLABLE = None
        if not _BILLABLE:  # no cache yet, or an unreadable or empty one
            import simple_icd_10_cm as icd

            _BILLABLE = frozenset(c for c in icd.get_all_codes(False) if icd.is_leaf(c))
            if cache is not None:  # written whole and renamed, so a reader never sees half a list
                tmp = cache.with_name(f"{cache.name}.{os.getpid()}.tmp")
                try:
                    cache.parent.mkdir(parents=True, exist_ok=True)
                    tmp.write_text("\n".join(sorted(_BILLABLE)) + "\n", encoding="ascii")
                    os.replace(tmp, cache)
                except OSError:  # a read-only or full disk only costs the parse again next time
                    tmp.unlink(missing_ok=True)
    return _BILLABLE


def icd10cm_billable(codes: list[str]) -> set[str]:
    """The codes (uppercase, no dot) that are not billable ICD-10-CM codes."""
    billable = billable_icd10cm()
    return {c for c in codes if c not in billable}


def npi_valid(npi: str) -> bool:
    """10 digits whose last is the Luhn check digit over 80840 + the first 9 (CMS NPI standard)."""
    if len(npi) != 10 or not npi.isdigit():
        return False
    total = 24
    for i, ch in enumerate(npi[:9]):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            d = d - 9 if d > 9 else d
        total += d
    return (total + int(npi[9])) % 10 == 0


def _bad_values(con, columns: list[str], judge: Callable[[list[str]], set[str]], table: str) -> bool:
    """Temp table ``table(v)`` of distinct values in ``columns`` that ``judge`` finds bad; any found?"""
    union = " UNION ".join(f"SELECT {_id(c)} AS v FROM typed WHERE {_id(c)} IS NOT NULL" for c in columns)
    values = [r[0] for r in con.execute(f"SELECT DISTINCT v FROM ({union})").fetchall()]
    bad = sorted(judge(values))
    con.execute(f"DROP TABLE IF EXISTS {table}")
    con.execute(f"CREATE TEMP TABLE {table} (v VARCHAR)")
    if bad:
        con.executemany(f"INSERT INTO {table} VALUES (?)", [(b,) for b in bad])
    return bool(bad)


def build_checks(con: duckdb.DuckDBPyConnection, contract: Contract, month: str) -> None:
    """Temp table ``checks``: source_row and an ``ok__<rule>`` (+ ``bad_col__<rule>``) per riskstrat row/warn rule."""
    rules = [r for r in contract.rules if r.engine == "riskstrat" and r.severity in ("row", "warn") and r.check != "types"]
    by_name: dict[str, list] = {}
    for r in rules:
        by_name.setdefault(r.name, []).append(r)
    select = ["t.source_row"]
    joins: list[str] = []
    incremental = contract.kind == "incremental"
    # duplicates and resends first: the unique key ignores rows already set aside as redundant
    pre = ["source_row", "row_hash"]
    dup = "row_number() OVER (PARTITION BY t.row_hash ORDER BY t.source_row) = 1"
    con.execute("DROP TABLE IF EXISTS redundant")
    seen = f"seen_{contract.table}"
    if incremental and _exists(con, seen):
        ad = (f"SELECT DISTINCT n.row_hash FROM typed n JOIN {seen} s ON n.row_hash = s.h")
        con.execute(f"CREATE TEMP TABLE redundant AS SELECT t.source_row, {dup} AS ok_dup, d.row_hash IS NULL AS ok_ad "
                    f"FROM typed t LEFT JOIN ({ad}) d ON t.row_hash = d.row_hash")
    else:
        con.execute(f"CREATE TEMP TABLE redundant AS SELECT t.source_row, {dup} AS ok_dup, true AS ok_ad FROM typed t")
    joins.append("JOIN redundant r ON r.source_row = t.source_row")
    for name, group in by_name.items():
        r0 = group[0]
        check = r0.check
        flag, badcol = f"ok__{name}", f"bad_col__{name}"
        if check == "duplicate_row":
            select += [f"r.ok_dup AS {flag}", f"CAST(NULL AS VARCHAR) AS {badcol}"]
        elif check == "already_delivered":
            select += [f"r.ok_ad AS {flag}", f"CAST(NULL AS VARCHAR) AS {badcol}"]
        elif check == "unique_key":
            key = ", ".join(_id(k) for k in contract.unique_key)
            notnull = " AND ".join(f"{_id(k)} IS NOT NULL" for k in contract.unique_key)
            con.execute("DROP TABLE IF EXISTS keydup")
            con.execute(
                f"CREATE TEMP TABLE keydup AS SELECT source_row FROM (SELECT t.source_row, "
                f"count(*) OVER (PARTITION BY {key}) AS n FROM typed t JOIN redundant r USING (source_row) "
                f"WHERE r.ok_dup AND r.ok_ad AND {notnull}) WHERE n > 1"
            )
            joins.append("LEFT JOIN keydup kd ON kd.source_row = t.source_row")
            select += [f"kd.source_row IS NULL AS {flag}", f"CAST(NULL AS VARCHAR) AS {badcol}"]
        elif check in ("icd10cm_billable", "npi_luhn"):
            cols = [r.column for r in group]
            judge = icd10cm_billable if check == "icd10cm_billable" else (lambda vs: {v for v in vs if not npi_valid(v)})
            bad_table = f"bad_{name}"
            if _bad_values(con, cols, judge, bad_table):
                conds = [(c, f"t.{_id(c)} IN (SELECT v FROM {bad_table})") for c in cols]
                select.append("NOT (" + " OR ".join(x for _, x in conds) + f") AS {flag}")
                select.append("CASE " + " ".join(f"WHEN {x} THEN {_q(c)}" for c, x in conds) + f" END AS {badcol}")
            else:
                select += [f"true AS {flag}", f"CAST(NULL AS VARCHAR) AS {badcol}"]
        elif check == "person_in_eligibility":
            if contract.table == "ed_visit":
                who = "COALESCE(t.person_id, mm.person_id)"
                joins.append("LEFT JOIN member_now mm ON mm.member_id = t.member_id")
            else:
                who = "t.person_id"
            joins.append(f"LEFT JOIN persons_now pn ON pn.person_id = {who}")
            # a missing person_id is the required rule's business, not this one's (ed_visit: resolved above)
            missing_ok = "t.person_id IS NULL AND t.member_id IS NULL" if contract.table == "ed_visit" else "t.person_id IS NULL"
            select += [f"(pn.person_id IS NOT NULL OR ({missing_ok})) AS {flag}",
                       f"CASE WHEN pn.person_id IS NULL AND NOT ({missing_ok}) THEN 'person_id' END AS {badcol}"]
        elif check == "service_in_enrollment":
            d = r0.options.get("date")
            con.execute("DROP TABLE IF EXISTS inspan")
            con.execute(
                f"CREATE TEMP TABLE inspan AS SELECT DISTINCT t.source_row FROM typed t JOIN spans_now s "
                f"ON s.person_id = t.person_id AND t.{_id(d)} >= s.start_date "
                f"AND t.{_id(d)} <= COALESCE(s.end_date, DATE '9999-12-31')"
            )
            joins.append("LEFT JOIN inspan isp ON isp.source_row = t.source_row")
            select += [f"(isp.source_row IS NOT NULL OR t.person_id IS NULL OR t.{_id(d)} IS NULL) AS {flag}",
                       f"CASE WHEN isp.source_row IS NULL THEN {_q(d)} END AS {badcol}"]
        else:
            raise ValueError(f"{contract.path}: unknown riskstrat check {check!r}")
    con.execute("DROP TABLE IF EXISTS checks")
    con.execute(f"CREATE TEMP TABLE checks AS SELECT {', '.join(select)} FROM typed t {' '.join(joins)}")


def _exists(con, table: str) -> bool:
    return bool(con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = ?", [table]).fetchone()[0])


# --- validation with Great Expectations ---------------------------------------------------------

class _Validator:
    """One ephemeral GX context per delivery month; with ``docs_dir``, a Data Docs site there."""

    def __init__(self, docs_dir: Path | None, month: str):
        import great_expectations as gx
        from great_expectations.data_context.types.base import ProgressBarsConfig

        self.gx = gx
        self.month = month
        self.ctx = gx.get_context(mode="ephemeral")
        self.ctx.variables.progress_bars = ProgressBarsConfig(globally=False)
        self.site = "riskstrat" if docs_dir is not None else None
        if docs_dir is not None:
            self.ctx.add_data_docs_site(
                site_name=self.site,
                site_config={
                    "class_name": "SiteBuilder",
                    "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(docs_dir.resolve())},
                    "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
                },
            )
        self.source = self.ctx.data_sources.add_pandas(f"delivery_{month}")
        self.used = False

    def validate(self, contract: Contract, frame, min_service_date: str):
        """Run the contract's suite on ``frame``; returns (stored result, {expectation index: unexpected rows}).

        The stored result (Data Docs, validation/*.json) uses GX's BASIC format; only the
        expectations that failed are run again with COMPLETE for their exact row indices, which
        halves the cost on a mostly clean delivery. Without Data Docs the suite is run on the
        batch directly: registering the suite and a validation definition in the context, which
        only Data Docs read, costs a quarter of the validation.
        """
        suite = compile_suite(contract, self.month, min_service_date)
        asset = self.source.add_dataframe_asset(contract.table)
        batch_def = asset.add_batch_definition_whole_dataframe(self.month)
        rows: dict[int, list[int]] = {}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            batch = batch_def.get_batch(batch_parameters={"dataframe": frame})
            if self.site is None:
                result = batch.validate(suite, result_format={"result_format": "BASIC"})
            else:
                vd = self.ctx.validation_definitions.add(self.gx.ValidationDefinition(
                    name=f"{contract.table} {self.month}", data=batch_def, suite=self.ctx.suites.add(suite)))
                result = vd.run(batch_parameters={"dataframe": frame}, result_format={"result_format": "BASIC"})
            for i, r in enumerate(result.results):
                if r.success or (r.exception_info or {}).get("raised_exception"):
                    continue
                again = batch.validate(r.expectation_config.to_domain_obj(), result_format={"result_format": "COMPLETE"})
                rows[i] = list(again.result.get("unexpected_index_list") or [])
        self.used = True
        return result, rows

    def build_docs(self) -> None:
        if self.used and self.site is not None:  # a context without a site has nothing to build
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                self.ctx.build_data_docs(site_names=[self.site])


def _gx_frame(con, contract: Contract):
    """The frame GX validates: the columns the suite reads, indexed by source_row.

    A column that only not-null rules read enters as a presence flag (null where the value is,
    true elsewhere): GX sees the same nulls, no member id or name reaches pandas or Data Docs,
    and the frame GX copies and hashes stays a few bytes a row.
    """
    typed_cols = set(contract.column_names) | {"ok__type"}
    presence = gx_presence_only(contract)
    select = ["t.source_row"]
    for c in gx_columns(contract):
        if c in presence:
            select.append(f"CASE WHEN t.{_id(c)} IS NOT NULL THEN true END AS {_id(c)}")
        else:
            select.append(f"{'t' if c in typed_cols else 'c'}.{_id(c)}")
    # through Arrow rather than .df(): pyarrow hands pandas one block per column instead of
    # consolidating the text columns into one object array, a third of the CPU for the same frame
    table = con.sql(
        f"SELECT {', '.join(select)} FROM typed t JOIN checks c USING (source_row) ORDER BY t.source_row"
    ).arrow().read_all()
    schema = table.schema
    frame = table.to_pandas(split_blocks=True, self_destruct=True, date_as_object=False)
    del table
    # the dtypes .df() gives, which the suite was written against: nanosecond datetimes, and the
    # nullable boolean (not object) for a flag with nulls
    for f in schema:
        if pa.types.is_boolean(f.type) and frame[f.name].dtype == object:
            frame[f.name] = frame[f.name].astype("boolean")
        elif str(frame[f.name].dtype).startswith("datetime64"):
            frame[f.name] = frame[f.name].astype("datetime64[ns]")
    frame.index = frame.pop("source_row").to_numpy()
    return frame


def _violations(result, index_rows: dict[int, list], contract: Contract, con) -> tuple[list[tuple[int, str, str | None, str]], list[str]]:
    """(source_row, rule, column, severity) for every unexpected row; plus rules GX could not evaluate."""
    out: list[tuple[int, str, str | None, str]] = []
    broken: list[str] = []
    for i, r in enumerate(result.results):
        meta = r.expectation_config.meta or {}
        rule, severity, column = meta.get("rule"), meta.get("severity"), meta.get("column")
        if r.exception_info and r.exception_info.get("raised_exception"):
            broken.append(rule)
            continue
        if r.success:
            continue
        rows = index_rows.get(i) or []
        rows = [int(x if not isinstance(x, dict) else next(iter(x.values()))) for x in rows]
        if column is None and rows:
            flag = r.expectation_config.kwargs.get("column", "")
            badcol = "bad_col__type" if flag == "ok__type" else "bad_col__" + flag.removeprefix("ok__")
            src = "typed" if flag == "ok__type" else "checks"
            con.execute("DROP TABLE IF EXISTS _rows")
            con.execute("CREATE TEMP TABLE _rows AS SELECT unnest(?::BIGINT[]) AS source_row", [rows])
            got = dict(con.execute(f"SELECT x.source_row, x.{badcol} FROM {src} x JOIN _rows USING (source_row)").fetchall())
            out += [(s, rule, got.get(s), severity) for s in rows]
        else:
            out += [(s, rule, column, severity) for s in rows]
    # a malformed value is typed as null: report it as a type problem, not also as a missing one
    malformed = {(s, c) for s, rule, c, _ in out if rule == "type"}
    if malformed:
        out = [v for v in out if not (v[1] == "required" and (v[0], v[2]) in malformed)]
    return out, broken


# --- one table ---------------------------------------------------------------------------------

def _rule_order(contract: Contract) -> dict[str, int]:
    names = list(REDUNDANT_RULES) + ["required", "type"] + contract.rule_names()
    return {n: i for i, n in enumerate(dict.fromkeys(names))}


def _ingest_table(con, contract: Contract, month: str, path: Path, sha: str, manifest: dict | None,
                  settings: IngestSettings, validator: _Validator, txn: Transaction, results_dir: Path) -> TableResult:
    t0 = time.perf_counter()
    res = TableResult(contract.table, month, path.name, "accepted", sha256=sha)
    source, present = raw_source(con, path)
    missing = [c for c in contract.required_columns if c not in present]
    if missing:
        raise TableFailure("required_columns", f"missing required column{'s' if len(missing) > 1 else ''} {', '.join(missing)}")
    build_typed(con, contract, source, present, path)
    n = con.execute("SELECT count(*) FROM typed").fetchone()[0]
    res.rows_in = n
    refusal: tuple[str, str] | None = None
    if manifest is not None and contract.table in manifest:
        entry = manifest[contract.table] or {}
        if "rows" in entry and int(entry["rows"]) != n:
            refusal = ("manifest_rows", f"_manifest.json says {int(entry['rows'])} rows, the file has {n}")
        elif entry.get("sha256") and str(entry["sha256"]).lower() != sha:
            refusal = ("manifest_sha256", "sha256 differs from _manifest.json")
    build_checks(con, contract, month)
    frame = _gx_frame(con, contract)
    result, index_rows = validator.validate(contract, frame, settings.min_service_date)
    del frame
    viol, broken = _violations(result, index_rows, contract, con)
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
    res.rows_warned = con.execute("SELECT count(DISTINCT source_row) FROM violations WHERE severity = 'warn'").fetchone()[0]
    con.execute("DROP TABLE IF EXISTS bad")
    con.execute(
        "CREATE TEMP TABLE bad AS SELECT source_row, arg_min(rule, ord) AS rule, arg_min(col, ord) AS col, "
        "string_agg(DISTINCT rule, ',' ORDER BY rule) AS rules, "
        "string_agg(rule || CASE WHEN col IS NULL THEN '' ELSE ':' || col END, ';' ORDER BY ord, col) AS detail, "
        f"bool_and(rule IN ({', '.join(_q(r) for r in REDUNDANT_RULES)})) AS redundant_only "
        "FROM violations WHERE severity = 'row' GROUP BY source_row"
    )
    n_bad, n_really_bad = con.execute("SELECT count(*), count(*) FILTER (WHERE NOT redundant_only) FROM bad").fetchone()
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
    q_path = txn.stage / partition_path(".", "quarantine", contract.table, month)
    n_q = con.execute(f"SELECT count(*) FROM typed t {join}").fetchone()[0]
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
        l_path = txn.stage / partition_path(".", "lake", contract.table, month)
        l_path.parent.mkdir(parents=True, exist_ok=True)
        # typed is in source_row order and DuckDB keeps insertion order: sort only after a join
        tail = f"{extra} ANTI JOIN bad b ON b.source_row = t.source_row ORDER BY t.source_row" if n_q or extra else ""
        con.execute(
            f"COPY (SELECT {', '.join(cols)}, t.source_file, t.source_row, t.row_hash FROM typed t {tail}) "
            f"TO {_q(l_path)} ({PARQUET})"
        )
        res.rows_accepted = n - n_q
    res.seconds = round(time.perf_counter() - t0, 3)
    _save_result(results_dir, contract, res, result, index_rows)
    return res


_SCRUB = ("unexpected_list", "partial_unexpected_list", "partial_unexpected_counts", "unexpected_index_query")


def _save_result(results_dir: Path, contract: Contract, res: TableResult, gx_result, index_rows: dict[int, list]) -> None:
    """``validation/YYYY-MM/<table>.json``: the reconciliation and the GX result (row numbers, no values)."""
    d = gx_result.to_json_dict()
    for i, r in enumerate(d.get("results", [])):
        for k in _SCRUB:
            (r.get("result") or {}).pop(k, None)
        if i in index_rows and r.get("result") is not None:
            r["result"]["unexpected_index_list"] = [int(x) if not isinstance(x, dict) else x for x in index_rows[i]]
    results_dir.mkdir(parents=True, exist_ok=True)
    payload = {"reconciliation": asdict(res), "contract": {"table": contract.table, "version": contract.version},
               "great_expectations": d}
    (results_dir / f"{contract.table}.json").write_text(json.dumps(payload, indent=1, default=str), encoding="utf-8")


# --- state carried from month to month ----------------------------------------------------------

def _init_state(con) -> None:
    con.execute("CREATE TEMP TABLE IF NOT EXISTS known_person (person_id VARCHAR)")
    con.execute("CREATE TEMP TABLE IF NOT EXISTS known_member (member_id VARCHAR, person_id VARCHAR, month VARCHAR)")
    con.execute("CREATE TEMP TABLE IF NOT EXISTS known_span (person_id VARCHAR, start_date DATE, end_date DATE)")
    for t in TABLES:
        con.execute(f"CREATE TEMP TABLE IF NOT EXISTS seen_{t} (h UBIGINT)")


def _add_people(con, people: str, month: str) -> None:
    """Merge delivered eligibility people (``people``: a table of distinct person_id, member_id) into the state.

    A table rather than a query: the month just ingested already has one (``cur_people``), and
    making it distinct again costs a pass over every member.
    """
    # EXCEPT (not EXCEPT ALL) already returns distinct rows: no DISTINCT before it, here and in _add_spans
    con.execute(f"INSERT INTO known_person SELECT person_id FROM {people} WHERE person_id IS NOT NULL "
                "EXCEPT SELECT person_id FROM known_person")
    con.execute(
        "CREATE OR REPLACE TEMP TABLE known_member AS SELECT member_id, arg_max(person_id, month) AS person_id, "
        "max(month) AS month FROM (SELECT * FROM known_member UNION ALL "
        f"SELECT member_id, person_id, {_q(month)} FROM {people} WHERE member_id IS NOT NULL AND person_id IS NOT NULL) "
        "GROUP BY member_id"
    )


def _add_spans(con, source: str) -> None:
    """Merge accepted enrolment spans (``source``: a SELECT of person_id and the two dates) into the state."""
    con.execute(f"INSERT INTO known_span SELECT person_id, enrollment_start_date, enrollment_end_date "
                f"FROM ({source}) WHERE person_id IS NOT NULL AND enrollment_start_date IS NOT NULL "
                "EXCEPT SELECT * FROM known_span")


def _load_lake_month(con, workspace: Path, month: str, contracts: dict[str, Contract]) -> None:
    """Bring an ingested month into the state: who was delivered in eligibility, spans, accepted row hashes.

    A person counts as known once any eligibility delivery carried them, accepted or quarantined:
    a defect in someone's eligibility row must not cascade into all their claims.
    """
    elig = partition_path(workspace, "lake", "eligibility", month)
    elig_q = partition_path(workspace, "quarantine", "eligibility", month)
    people = []
    if elig.exists():
        people.append(f"SELECT person_id, member_id FROM read_parquet({_q(elig)})")
        _add_spans(con, f"SELECT * FROM read_parquet({_q(elig)})")
    if elig_q.exists():
        people.append(f"SELECT NULLIF(trim(person_id), '') AS person_id, NULLIF(trim(member_id), '') AS member_id "
                      f"FROM read_parquet({_q(elig_q)})")
    if people:
        con.execute(f"CREATE OR REPLACE TEMP TABLE _people AS SELECT DISTINCT * FROM ({' UNION ALL '.join(people)})")
        _add_people(con, "_people", month)
    for t in TABLES:
        p = partition_path(workspace, "lake", t, month)
        # only incremental tables are checked for resends; a snapshot's hashes would just fill memory
        if p.exists() and contracts[t].kind == "incremental":
            con.execute(f"INSERT INTO seen_{t} SELECT row_hash FROM read_parquet({_q(p)})")


def _remember_month(con, month: str, cur_people: bool, cur_spans: bool) -> None:
    """Add the month being committed to the state: what :func:`_load_lake_month` would read back from its files."""
    if cur_people:
        _add_people(con, "cur_people", month)
    if cur_spans:
        _add_spans(con, "SELECT * FROM cur_spans")
    for t in TABLES:
        if _exists(con, f"new_seen_{t}"):
            con.execute(f"INSERT INTO seen_{t} SELECT h FROM new_seen_{t}")


def _set_now_views(con, cur_people: bool, cur_spans: bool) -> None:
    """persons_now / member_now / spans_now: the state plus this month's eligibility delivery."""
    people = " UNION SELECT person_id FROM cur_people WHERE person_id IS NOT NULL" if cur_people else ""
    con.execute(f"CREATE OR REPLACE TEMP TABLE persons_now AS SELECT person_id FROM known_person{people}")
    members = (" UNION ALL SELECT member_id, person_id, '9999-99' FROM cur_people "
               "WHERE member_id IS NOT NULL AND person_id IS NOT NULL") if cur_people else ""
    con.execute("CREATE OR REPLACE TEMP TABLE member_now AS SELECT member_id, arg_max(person_id, month) AS person_id "
                f"FROM (SELECT * FROM known_member{members}) GROUP BY member_id")
    spans = " UNION SELECT * FROM cur_spans" if cur_spans else ""
    con.execute(f"CREATE OR REPLACE TEMP TABLE spans_now AS SELECT * FROM known_span{spans}")


# --- deliveries ledger ----------------------------------------------------------------------------

def read_deliveries(workspace: Path | str) -> list[dict[str, Any]]:
    """Rows of ``lake/_deliveries.parquet`` (empty when nothing was ingested)."""
    p = Path(workspace) / "lake" / DELIVERIES_FILE
    return pq.read_table(p).to_pylist() if p.exists() else []


def _write_deliveries(path: Path, rows: list[dict[str, Any]]) -> None:
    rows = sorted(rows, key=lambda r: (r["delivery_month"], TABLES.index(r["table"]) if r["table"] in TABLES else 99))
    schema = pa.schema(DELIVERY_COLUMNS)
    table = pa.Table.from_pylist([{k: r.get(k) for k in DELIVERY_COLUMNS} for r in rows], schema=schema)
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path, compression="zstd")


def _month_up_to_date(month: str, files: dict[str, str], ledger: list[dict[str, Any]]) -> bool:
    recorded = {(r["table"], r["file"], r["sha256"]) for r in ledger if r["delivery_month"] == month}
    present = {(t, name, sha) for t, (name, sha) in files.items()}
    return bool(recorded) and recorded == present


# --- the public entry point -----------------------------------------------------------------------

def landing_months(workspace: Path | str) -> list[str]:
    """Delivery months in ``W/landing/``, in order."""
    root = Path(workspace) / "landing"
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if p.is_dir() and MONTH_RE.match(p.name))


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
    if not (workspace / "landing").is_dir():
        raise IngestError(f"{workspace / 'landing'}: no landing folder (deliveries go in landing/YYYY-MM/)")
    all_months = landing_months(workspace)
    if month is not None:
        if not MONTH_RE.match(month):
            raise IngestError(f"{month!r} is not a month in YYYY-MM form")
        if month not in all_months:
            raise IngestError(f"{workspace / 'landing' / month}: no such delivery folder")
    recover(workspace)
    contracts = load_contracts(ing.contracts_dir)
    ledger = read_deliveries(workspace)

    candidates = [month] if month else all_months
    todo: list[tuple[str, dict[str, Path], dict[str, str]]] = []
    skipped: list[str] = []
    for m in candidates:
        files, _ = find_delivery_files(workspace / "landing" / m)
        shas = {t: (p.name, sha256_file(p)) for t, p in files.items()}
        if _month_up_to_date(m, shas, ledger):
            skipped.append(m)
        else:
            todo.append((m, files, {t: s for t, (_, s) in shas.items()}))

    results: list[TableResult] = []
    if todo:
        con = duckdb.connect(config={"threads": ing.threads, "memory_limit": ing.memory_limit})
        con.execute("SET enable_progress_bar = false")  # the CLI draws its own progress
        _init_state(con)
        loaded: set[str] = set()
        ingested = sorted({r["delivery_month"] for r in ledger if r["status"] == "accepted"})
        for i, (m, files, shas) in enumerate(todo):
            for earlier in ingested:
                if earlier < m and earlier not in loaded:
                    _load_lake_month(con, workspace, earlier, contracts)
                    loaded.add(earlier)
            if progress:
                progress("ingest deliveries", i, len(todo))
            # rendering a month's Data Docs costs about what validating it does: one site, the newest month's
            docs = ing.data_docs and i == len(todo) - 1
            month_results = _ingest_month(con, workspace, m, files, shas, contracts, ing, ledger, docs)
            results += month_results
            ledger = read_deliveries(workspace)
            loaded.add(m)
        if progress:
            progress("ingest deliveries", len(todo), len(todo))
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
        month_dir = workspace / "landing" / month
        manifest, manifest_problem = _read_manifest(month_dir)
        results_dir = txn.stage / "validation" / month
        validator = _Validator(results_dir / "data_docs" if docs else None, month)
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
                _set_now_views(con, cur_people, cur_spans)
                now_ready = True
            t_start = time.perf_counter()
            try:
                if manifest_problem:
                    raise TableFailure("manifest_rows", manifest_problem)
                res = _ingest_table(con, contract, month, path, shas[table], manifest, ing, validator, txn, results_dir)
            except TableFailure as exc:
                res = TableResult(table, month, path.name, "failed", rule=exc.rule, message=str(exc), sha256=shas[table],
                                  seconds=round(time.perf_counter() - t_start, 3))
                for area in ("lake", "quarantine"):
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
            for area in ("lake", "quarantine"):
                rel = partition_path(".", area, table, month)
                if (workspace / rel).exists() and not (txn.stage / rel).exists():
                    txn.remove(rel)
        if (workspace / "validation" / month).exists():
            for p in (workspace / "validation" / month).rglob("*"):
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
        _write_deliveries(txn.stage / "lake" / DELIVERIES_FILE, rows)
        del validator  # a GX context per month: let it go before the next
        if any(r.status == "accepted" for r in out):
            _remember_month(con, month, cur_people, cur_spans)
        con.execute("DROP VIEW IF EXISTS typed")
        for t in ("typed_rows", "checks", "redundant", "violations", "bad", *(f"new_seen_{t}" for t in TABLES)):
            con.execute(f"DROP TABLE IF EXISTS {t}")
        txn.commit()
    except BaseException:
        txn.abort()
        raise
    return out
