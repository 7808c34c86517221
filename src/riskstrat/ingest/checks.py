"""The riskstrat checks a contract names with ``engine: riskstrat``: computed in DuckDB over the typed rows.

ICD-10-CM validity (simple-icd-10-cm), the NPI check digit, duplicate rows, rows already
delivered, the unique key, the person in eligibility and the service inside an enrolment span.
Each row rule becomes a boolean column ``ok__<rule>`` of the temp table ``checks``, which Great
Expectations validates with the contract's other rules (:mod:`riskstrat.ingest.validate`).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from functools import cache
from importlib.metadata import version
from pathlib import Path

import duckdb

from riskstrat.core.files import write_atomic
from riskstrat.core.sql import identifier as _id
from riskstrat.core.sql import literal as _q
from riskstrat.core.sql import scalar
from riskstrat.ingest.contracts import Contract, ContractError


def _icd_cache_file() -> Path | None:
    """Where the billable code list of the installed simple-icd-10-cm version is kept (None: no home folder).

    The package stays the source of truth: the file is named after its version, so upgrading
    (or downgrading) it reads the package again. Deleting the folder is always safe.
    """
    try:
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    except RuntimeError:
        return None
    return base / "riskstrat" / f"icd10cm-billable-simple_icd_10_cm-{version('simple_icd_10_cm')}.txt"


@cache
def billable_icd10cm() -> frozenset[str]:
    """Every billable ICD-10-CM code (a leaf of simple-icd-10-cm's code table), uppercase without the dot.

    Importing simple-icd-10-cm parses its XML tables (3-5 CPU seconds); that is done once per
    package version and the result kept in :func:`_icd_cache_file` (half a MB, read in a few ms).
    """
    cache_file = _icd_cache_file()
    try:
        codes = frozenset(cache_file.read_text(encoding="ascii").split()) if cache_file is not None else None
    except (OSError, UnicodeDecodeError):
        codes = None
    if codes:
        return codes
    # Imported only when there is no cache: parsing its code table costs seconds (see above).
    import simple_icd_10_cm as icd

    codes = frozenset(c for c in icd.get_all_codes(False) if icd.is_leaf(c))
    if cache_file is not None:
        try:
            write_atomic(cache_file, "\n".join(sorted(codes)) + "\n", encoding="ascii")
        except OSError:  # a read-only or full disk only costs the parse again next time
            pass
    return codes


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
    dup = "row_number() OVER (PARTITION BY t.row_hash ORDER BY t.source_row) = 1"
    con.execute("DROP TABLE IF EXISTS redundant")
    seen = f"seen_{contract.table}"
    if incremental and table_exists(con, seen):
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
            raise ContractError(f"{contract.path}: unknown riskstrat check {check!r}")
    con.execute("DROP TABLE IF EXISTS checks")
    con.execute(f"CREATE TEMP TABLE checks AS SELECT {', '.join(select)} FROM typed t {' '.join(joins)}")


def table_exists(con, table: str) -> bool:
    """Whether the connection has a table of that name (the state's tables exist only once filled)."""
    return bool(scalar(con, "SELECT count(*) FROM duckdb_tables() WHERE table_name = ?", [table]))
