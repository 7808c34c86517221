"""Reading a delivery file: one DuckDB scan that types every column as its contract says.

A file (.csv, .csv.gz or .parquet; comma or pipe delimited) is read with every column as text,
then typed and normalised in SQL (docs/lake.md), remembering each row's 1-based line number
(``source_row``). A file that cannot be read raises :class:`TableFailure` with a one-line reason
that names no value.
"""

from __future__ import annotations

import csv
import gzip
import io
import re
from pathlib import Path

import duckdb

from riskstrat.core.sql import identifier as _id
from riskstrat.core.sql import literal as _q
from riskstrat.ingest.contracts import NORMALISATIONS, TABLES, Contract, ContractError

SUFFIXES = (".csv", ".csv.gz", ".parquet")


class TableFailure(Exception):
    """A table's file cannot be used; ``rule`` is the delivery rule, the message one line without values."""

    def __init__(self, rule: str, message: str, ignored_columns: str | None = None):
        super().__init__(message)
        self.rule = rule
        #: the header's columns the contract does not name (a misspelt required column is one)
        self.ignored_columns = ignored_columns


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


_INT = r"[+-]?[0-9]+"

_NUM = r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)"

_DATE = r"[0-9]{4}-[0-9]{2}-[0-9]{2}( 00:00:00)?"

_TS = r"[0-9]{4}-[0-9]{2}-[0-9]{2}([ T][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?)?(Z|[+-][0-9]{2}(:?[0-9]{2})?)?"


def _normalise(expr: str, how: str | None) -> str:
    if how is None:
        return expr
    return NORMALISATIONS[how].format(x=expr, parts=f"string_split({expr}, '-')")


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
        raise ContractError(f"unknown logical type {t!r}")
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
