"""The clinical concepts: ``concepts/<concept>.sql``, one rule per file, materialised in dependency order.

Each file opens with its rule in plain English. A concept yields events (``person_id,
event_date`` and perhaps a group, flag or amount) or one row per child. The SQL reads the lake's
views, the code sets (``codeset_<name>`` tables) and two small tables: ``params`` (the as-of
month, what was known by when, the windows) and ``calendar`` (the months of the window), so the
same concept serves features (known at T, looking back) and labels (known later, looking forward).
Which concepts a concept reads is found by parsing its SQL, so the files stay the truth.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache
from importlib import resources

import duckdb
import pandas as pd
import sqlglot
from sqlglot import exp

from riskstrat.core.months import add_months, month_end, month_start, months_between
from riskstrat.core.sql import first_row
from riskstrat.features import codesets
from riskstrat.features.declarations import FEATURES
from riskstrat.lake import final_claims_sql

# Code sets the concept SQL joins to, each registered as table codeset_<name>.
CODESETS = (
    "icd10cm_behavioral_health",
    "icd10cm_suicide_self_harm",
    "icd10cm_maltreatment",
    "icd10cm_sdoh",
    "pmca_icd10",
    "icd10cm_chronic_conditions",
    "icd10cm_routine",
    "utilization_codes",
    "atc_drug_classes",
    "ndc_products",
)


def _concept_files():
    return resources.files("riskstrat.features").joinpath("concepts")


@cache
def concept_sql(concept: str) -> str:
    """The SQL of ``concepts/<concept>.sql``."""
    path = _concept_files().joinpath(f"{concept}.sql")
    if not path.is_file():
        raise FileNotFoundError(f"no concept file features/concepts/{concept}.sql")
    return path.read_text(encoding="utf-8")


@cache
def _concept_names() -> frozenset[str]:
    return frozenset(p.name.removesuffix(".sql") for p in _concept_files().iterdir() if p.name.endswith(".sql")) - HELPERS


@cache
def concept_dependencies(concept: str) -> frozenset[str]:
    """The other concepts a concept's SQL reads (found by parsing it, so the files stay the truth)."""
    tree = sqlglot.parse_one(concept_sql(concept), read="duckdb")
    ctes = {cte.alias_or_name for cte in tree.find_all(exp.CTE)}
    tables = {t.name for t in tree.find_all(exp.Table)}
    return frozenset((tables - ctes) & (_concept_names() - {concept}))


def concept_order(wanted: Iterable[str]) -> list[str]:
    """The wanted concepts and everything they read, each after what it reads."""
    order: list[str] = []
    visiting: set[str] = set()

    def visit(name: str) -> None:
        if name in order:
            return
        if name in visiting:
            raise ValueError(f"concept {name} depends on itself")
        visiting.add(name)
        for dep in sorted(concept_dependencies(name)):
            visit(dep)
        visiting.discard(name)
        order.append(name)

    for name in wanted:
        visit(name)
    return order


def data_window_months() -> int:
    """The longest look-back any feature declares, lagged windows included: how much history a build reads."""
    return max((f.window_months or 0) + f.lag_months for f in FEATURES)


def lookback_needed() -> int:
    """The longest window of a feature that must be whole (a lagged window may be missing early in the data)."""
    return max(f.window_months or 0 for f in FEATURES if not f.lag_months)


def _windows() -> list[int]:
    starts = {f.window_months + f.lag_months for f in FEATURES if f.window_months}
    return sorted(starts | {f.lag_months for f in FEATURES if f.lag_months} | {3})


def set_params(con: duckdb.DuckDBPyConnection, *, as_of: str, known_month: str, first_month: str,
               last_month: str, outcome_months: tuple[str, str] | None = None, data_start: str | None = None,
               known_first: str | None = None) -> None:
    """Write the one-row ``params`` table and the ``calendar`` of months the concept SQL reads.

    ``as_of`` names the population (eligibility snapshot) and the end of feature windows;
    ``known_month`` is the last delivery (and its last day the last paid/sent date) the SQL may
    see; services from the first day of ``first_month`` to the last of ``last_month`` are read.
    ``outcome_months`` (first, last) is the outcome window, and then the ``calendar``; without
    it both are the months read. ``data_start``: the first month the lake holds (default
    ``first_month``); a lagged feature window opening before it is unknown. ``known_first``
    (default ``known_month``): the claims and messages of :data:`CARRIED` are those known at the
    end of every month from it to ``known_month``, each row with the months it stood in.
    """
    first_outcome, last_outcome = outcome_months or (first_month, last_month)
    row = {
        "as_of_month": as_of,
        "as_of_date": month_end(as_of),
        "known_month": known_month,
        "known_date": month_end(known_month),
        "known_first": known_first or known_month,
        "window_start": month_start(first_month),
        "window_end": month_end(last_month),
        "outcome_start": month_start(first_outcome),
        "outcome_end": month_end(last_outcome),
        "data_start": month_start(data_start or first_month),
    }
    for w in _windows():
        row[f"start_{w}m"] = month_start(add_months(as_of, -(w - 1)))
    params = pd.DataFrame([row])
    months = [{"month_key": m, "month_start": month_start(m), "month_end": month_end(m), "month_index": i}
              for i, m in enumerate(months_between(first_outcome, last_outcome))]
    _replace_table(con, "params", params)
    _replace_table(con, "calendar", pd.DataFrame(months))


def _replace_table(con: duckdb.DuckDBPyConnection, name: str, frame: pd.DataFrame) -> None:
    con.register("_riskstrat_frame", frame)
    try:
        con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT * FROM _riskstrat_frame")
    finally:
        con.unregister("_riskstrat_frame")


def register_codesets(con: duckdb.DuckDBPyConnection) -> None:
    """Load every code set the concept SQL joins to as table ``codeset_<name>`` (``group`` → ``grp``)."""
    for name in CODESETS:
        frame = codesets.load(name).rename(columns={"group": "grp"})
        _replace_table(con, f"codeset_{name}", frame)


# Concepts read final claims under these names: the lake's final-claim rule
# (riskstrat.lake.final_claims_sql), run for the knowledge months, choosing versions among the
# claims that can matter for the window (<table>_window.sql), inlined as CTEs so nothing but the
# concept's own rows is materialised.
FINAL_CLAIMS = {"final_medical_claim": "medical_claim", "final_pharmacy_claim": "pharmacy_claim"}

HELPERS = frozenset(f"{table}_window" for table in FINAL_CLAIMS.values())


@cache
def _tables_read(concept: str) -> frozenset[str]:
    return frozenset(t.name for t in sqlglot.parse_one(concept_sql(concept), read="duckdb").find_all(exp.Table))


def concept_statement(concept: str) -> tuple[str, bool]:
    """The SELECT that builds a concept, and whether it needs the final-claim parameters."""
    sql = concept_sql(concept)
    finals = sorted(FINAL_CLAIMS.keys() & _tables_read(concept))
    if not finals:
        return sql, False
    ctes = []
    for alias in finals:
        table = FINAL_CLAIMS[alias]
        ctes.append(f"{alias} AS (\n{final_claims_sql(table, lines=concept_sql(table + '_window'))}\n)")
    return "WITH " + ",\n".join(ctes) + f"\nSELECT * FROM (\n{sql}\n) AS concept", True


#: The final-claim rule's parameters, read from ``params`` (DuckDB's or Spark's copy of it).
FINAL_CLAIM_PARAMS_SQL = "SELECT known_first, known_month, known_date FROM params"


def final_claim_params(row) -> dict:
    """:data:`FINAL_CLAIM_PARAMS_SQL`'s row as the rule's ``$known_first``, ``$known_last`` and ``$known_last_date``."""
    first, last, last_date = row
    return {"known_first": first, "known_last": last, "known_last_date": last_date}


#: Concepts each of whose rows is one claim line, fill or ADT message (or a code of one) as known
#: over the months ``known_from`` <= T < ``known_until``, and the date that puts the row in a
#: window. Built once for a range of knowledge months (``params.known_first`` to
#: ``known_month``), they give any month of the range by a filter on those three columns
#: (riskstrat.features.build.build_feature_months); every other concept combines rows, so it
#: is built month by month.
CARRIED = {
    "medical_claims": "service_date",
    "service_lines": "service_date",
    "diagnoses": "event_date",
    "ed_visit_known": "arrival_date",
    "pharmacy_fills": "event_date",
    "paid_amounts": "event_date",
}

#: Concepts keyed by a code, whatever the month: the code sets' reading of each code seen. Built for
#: a range of months they hold every code a month of it sees, and mean the same for each.
CODE_KEYED = ("service_code_map", "diagnosis_code_map")


def carried_order(concept: str) -> str:
    """How a :data:`CARRIED` concept's rows are held: by the code set or group the months' concepts
    select on, then by date (``ORDER BY ...``; empty for a concept with neither). DuckDB then skips
    the row groups a month's filter cannot match (min-max zone maps): on 500k members a month took
    13.5 s instead of 16, for a 7 s sort once."""
    keys = [k for k in ("codeset", "grp") if k in concept_columns(concept)]
    return f" ORDER BY {', '.join([*keys, CARRIED[concept]])}" if keys else ""


def materialise(con: duckdb.DuckDBPyConnection, concepts: Iterable[str], reuse: Iterable[str] = (),
                carried_into: str | None = None) -> None:
    """Create each concept (and what it reads) as a temp table, in dependency order.

    Concepts named in ``reuse`` are already materialised on ``con`` and are left as they are.
    ``carried_into``: an attached database; the :data:`CARRIED` concepts are created there instead,
    sorted by :func:`carried_order`, each read through a temp view of its name.
    """
    params = final_claim_params(first_row(con, FINAL_CLAIM_PARAMS_SQL))
    kept = set(reuse)
    for name in concept_order(concepts):
        if name in kept:
            continue
        sql, needs_params = concept_statement(name)
        if carried_into is not None and name in CARRIED:
            # Straight into the database that holds them, sorted: made as temp tables first and
            # copied there sorted, the 500k-member plan's rows were written twice (3.6 GB, past
            # DuckDB's memory limit, so through its spill files): 18 s of the months' shared part.
            con.execute(f"CREATE TABLE {carried_into}.{name} AS SELECT * FROM (\n{sql}\n) AS concept"
                        f"{carried_order(name)}", params if needs_params else None)
            con.execute(f"CREATE OR REPLACE TEMP VIEW {name} AS SELECT * FROM {carried_into}.{name}")
        elif needs_params:
            con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS {sql}", params)
        else:
            con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS {sql}")


# What ties a concept to one as-of month: the population's snapshot and date, the feature windows
# counted back from it, the outcome window after it and its calendar. The known date and the
# months read do not: a concept reading only those is the same for every as-of month read with them.
_AS_OF_PARAMS = frozenset({"as_of_month", "as_of_date", "outcome_start", "outcome_end"})


@cache
def reads_as_of(concept: str) -> bool:
    """Whether a concept (or one it reads) differs between as-of months that share the months read."""
    tree = sqlglot.parse_one(concept_sql(concept), read="duckdb")
    columns = {c.name for c in tree.find_all(exp.Column)}
    if columns & _AS_OF_PARAMS or any(c.startswith("start_") and c.endswith("m") for c in columns):
        return True
    if "calendar" in {t.name for t in tree.find_all(exp.Table)}:
        return True
    return any(reads_as_of(dep) for dep in concept_dependencies(concept))


@cache
def concept_columns(concept: str) -> frozenset[str]:
    """The columns a concept yields (its SELECT list, parsed from the SQL file)."""
    return frozenset(sqlglot.parse_one(concept_sql(concept), read="duckdb").named_selects)


def concept_has_dates(concept: str) -> bool:
    """Whether a concept yields dated events (``event_date``) rather than one row per child."""
    return "event_date" in concept_columns(concept)
