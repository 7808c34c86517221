"""The feature table: the declared features of every child at an as-of month, generated from the declarations.

What was known at T: claims delivered by T and paid by the last day of T (final-claim rule
applied to those only), with services by then; ADT messages delivered by T and sent by then;
screenings delivered by T; eligibility from the snapshot delivered in T (the span that
describes the child at T: ``concepts/eligibility_at_as_of.sql``). Race and ethnicity are never
features; they are kept for fairness audits only.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

import duckdb
import pandas as pd

from riskstrat.config import Settings
from riskstrat.core.errors import RiskstratError
from riskstrat.core.months import add_months, check_month
from riskstrat.core.sql import first_row, identifier, scalar
from riskstrat.features.concept_sql import (
    CARRIED,
    concept_columns,
    concept_has_dates,
    concept_order,
    data_window_months,
    lookback_needed,
    materialise,
    register_codesets,
    set_params,
)
from riskstrat.features.declarations import FEATURES, Feature
from riskstrat.ingest.contracts import load_contract
from riskstrat.lake import connect


class FeatureError(RiskstratError):
    """Features cannot be built for a month; the message names the month and what is missing."""


DUCKDB_MEMORY_LIMIT = "2500MB"


def open_lake(workspace_or_connection, memory_limit: str = DUCKDB_MEMORY_LIMIT) -> duckdb.DuckDBPyConnection:
    """A connection of our own with the lake's views; a given connection is shared, not altered.

    Given a workspace, the views come from :func:`riskstrat.lake.connect` and DuckDB may use
    ``memory_limit``. Given a connection (with those views), a cursor on it keeps our temp tables
    out of the caller's session, under the caller's limit.
    """
    if isinstance(workspace_or_connection, duckdb.DuckDBPyConnection):
        return workspace_or_connection.cursor()
    con = connect(Path(workspace_or_connection))
    # The stage's budget is 4 GB for the whole process; DuckDB spills to disk past this.
    con.execute(f"SET memory_limit = '{memory_limit}'")
    # Concept tables are sets: keeping row order would only cost memory and time.
    con.execute("SET preserve_insertion_order = false")
    con.execute(f"SET temp_directory = '{Path(tempfile.gettempdir()) / 'riskstrat-duckdb'}'")
    return con


def _window_condition(f: Feature, window: int | None = None) -> list[str]:
    """The SQL conditions an event must meet to count for a feature: window, code set, group, flag.

    The code set and group filter only concepts that carry them (``codeset`` / ``grp``
    columns); elsewhere they document which code set the concept's rule joins to.
    """
    conds = []
    columns = concept_columns(f.concept)
    w = window or f.window_months
    if w and "event_date" in columns:
        conds.append(f"e.event_date >= p.start_{w + f.lag_months}m")
        if f.lag_months:
            conds.append(f"e.event_date < p.start_{f.lag_months}m")
    if f.group and "grp" in columns and f.aggregate != "value":
        groups = f.group.split(",")
        if len(groups) == 1:
            conds.append(f"e.grp = '{groups[0]}'")
        else:
            conds.append("e.grp IN (" + ", ".join(f"'{g}'" for g in groups) + ")")
    if f.codeset and "codeset" in columns:
        conds.append(f"e.codeset = '{f.codeset}'")
    if f.flag:
        conds.append(f"e.{f.flag} = 1")
    return conds


def _case(conds: list[str], then: str, otherwise: str = "0") -> str:
    if not conds:
        return then
    return f"CASE WHEN {' AND '.join(conds)} THEN {then} ELSE {otherwise} END"


def _concept_expressions(f: Feature) -> list[tuple[str, str]]:
    """(column, expression) pairs a feature needs in its concept's per-child aggregate."""
    a = f.aggregate
    if a == "count":
        return [(f.name, f"SUM({_case(_window_condition(f), '1')})")]
    if a == "days":
        return [(f.name, f"COUNT(DISTINCT {_case(_window_condition(f), 'e.event_date', 'NULL')})")]
    if a in ("any", "none"):
        return [(f.name, f"MAX({_case(_window_condition(f), '1')})")]
    if a == "sum":
        return [(f.name, f"SUM({_case(_window_condition(f), 'e.value')})")]
    if a == "distinct_groups":
        return [(f.name, f"COUNT(DISTINCT {_case(_window_condition(f), 'e.grp', 'NULL')})")]
    if a == "trend":
        recent = _window_condition(f, 3)
        prior = _window_condition(f) + ["e.event_date < p.start_3m"]
        # DOUBLE before dividing: Spark divides integer sums by 3.0 in DECIMAL and rounds (issue #19).
        return [(f.name, f"CAST(SUM({_case(recent, '1')}) AS DOUBLE) / 3.0 "
                         f"- CAST(SUM({_case(prior, '1')}) AS DOUBLE) / 9.0")]
    if a in ("pmpm", "pmpm_trend"):
        return [(f"{f.name}__recent", f"SUM({_case(_window_condition(f, 3), 'e.value')})"),
                (f"{f.name}__prior", f"SUM({_case(_window_condition(f) + ['e.event_date < p.start_3m'], 'e.value')})")]
    if a == "value":
        return [(f.name, f"MAX(e.{f.column})")]
    raise AssertionError(a)


def _aggregate_name(f: Feature) -> str:
    # A lagged feature (13-24 months back) is aggregated apart from its concept's recent ones, so
    # each aggregate reads only the months of its own windows: with the year-before features in
    # the same aggregate, every recent one read twice the rows for nothing.
    return f"agg_{f.concept}__lagged" if f.lag_months else f"agg_{f.concept}"


def _rows_read(windows: list[tuple[int, int]], features: list[Feature], concept: str) -> str:
    """The WHERE of an aggregate: events up to T, and from the start of its widest window on when
    each of its columns has a window (an event before that counts for none of them: without it
    a child's aggregate is missing, which the feature reads as the zero it would have been).

    When every feature of the aggregate reads one of a few code sets (or groups) and reads a
    missing aggregate as zero, only those code sets' rows are read: the diagnoses aggregate then
    skips the routine and PMCA codes, three quarters of a year's diagnoses, which the concept's
    sort by code set lets DuckDB pass over without reading.
    """
    conds = ["e.event_date <= p.as_of_date"]
    if windows and all(w for w, _ in windows):
        conds.append(f"e.event_date >= p.start_{max(w + lag for w, lag in windows)}m")
        if all(lag for _, lag in windows):
            conds.append(f"e.event_date < p.start_{min(lag for _, lag in windows)}m")
    # A "value" feature reads its column whatever its group says (_window_condition), so it keeps every row.
    narrowable = all((f.missing == 0 or f.aggregate == "none") and f.aggregate != "value" for f in features)
    columns = concept_columns(concept)
    for column, values in (("codeset", [f.codeset for f in features]),
                           ("grp", [g for f in features for g in (f.group or "").split(",")])):
        if narrowable and column in columns and values and all(values):
            quoted = ", ".join(f"'{v}'" for v in sorted(set(values)))
            conds.append(f"e.{column} IN ({quoted})")
    return "\n    WHERE " + "\n      AND ".join(conds)


def feature_sql() -> str:
    """The one SELECT that turns the materialised concepts into the feature table (generated)."""
    by_aggregate: dict[str, tuple[str, list[tuple[str, str]], list[tuple[int, int]], list[Feature]]] = {}
    for f in FEATURES:
        concept, exprs, windows, features = by_aggregate.setdefault(_aggregate_name(f), (f.concept, [], [], []))
        exprs.extend(_concept_expressions(f))
        # "value" reads a column of the concept's one row per child, whatever its window says
        windows.append((0 if f.aggregate == "value" else f.window_months or 0, f.lag_months))
        features.append(f)
    needs_enrolment = any(f.aggregate in ("pmpm", "pmpm_trend") for f in FEATURES)
    if needs_enrolment:
        _, exprs, windows, _ = by_aggregate.setdefault("agg_enrolled_months", ("enrolled_months", [], [], []))
        exprs.extend([
            ("months__recent", "SUM(CASE WHEN e.event_date >= p.start_3m THEN 1 ELSE 0 END)"),
            ("months__prior", "SUM(CASE WHEN e.event_date >= p.start_12m AND e.event_date < p.start_3m "
                              "THEN 1 ELSE 0 END)"),
        ])
        windows.extend([(3, 0), (12, 0)])
    ctes = []
    for name, (concept, exprs, windows, features) in by_aggregate.items():
        where = _rows_read(windows, features, concept) if concept_has_dates(concept) else ""
        cols = ",\n        ".join(f"{expr} AS {col}" for col, expr in exprs)
        ctes.append(
            f"{name} AS (\n    SELECT\n        e.person_id,\n        {cols}\n"
            f"    FROM {concept} AS e\n    CROSS JOIN params AS p{where}\n    GROUP BY e.person_id\n)"
        )
    selects = []
    for f in FEATURES:
        src = _aggregate_name(f)
        if f.aggregate in ("pmpm", "pmpm_trend"):
            m = "agg_enrolled_months"
            recent = f"COALESCE({src}.{f.name}__recent, 0) / NULLIF({m}.months__recent, 0)"
            prior = f"COALESCE({src}.{f.name}__prior, 0) / NULLIF({m}.months__prior, 0)"
            total = (f"(COALESCE({src}.{f.name}__recent, 0) + COALESCE({src}.{f.name}__prior, 0)) "
                     f"/ NULLIF({m}.months__recent + {m}.months__prior, 0)")
            expr = total if f.aggregate == "pmpm" else f"{recent} - {prior}"
        elif f.aggregate == "none":
            expr = f"1 - COALESCE({src}.{f.name}, 0)"
        elif f.missing is not None:
            expr = f"COALESCE({src}.{f.name}, {f.missing})"
        else:
            expr = f"{src}.{f.name}"
        if f.lag_months:
            # Early in the plan's data the lagged window is not all in the lake: unknown, not zero.
            expr = f"CASE WHEN p.start_{f.window_months + f.lag_months}m < p.data_start THEN NULL ELSE {expr} END"
        selects.append(f"CAST({expr} AS DOUBLE) AS {f.name}")
    joins = "\n".join(f"LEFT JOIN {a} ON pop.person_id = {a}.person_id" for a in by_aggregate)
    return (
        "WITH " + ",\n".join(ctes) + "\nSELECT\n    pop.person_id,\n    " + ",\n    ".join(selects)
        + f"\nFROM population AS pop\nCROSS JOIN params AS p\n{joins}\nORDER BY pop.person_id"
    )


def feature_concepts() -> list[str]:
    """The SQL concepts the declared features need, so a build materialises only those."""
    wanted = {f.concept for f in FEATURES} | {"population"}
    if any(f.aggregate in ("pmpm", "pmpm_trend") for f in FEATURES):
        wanted.add("enrolled_months")
    return sorted(wanted)


def prepare_as_of(con: duckdb.DuckDBPyConnection, as_of: str, since: str | None = None) -> None:
    """Parameters for features at ``as_of``: known at T, looking back over the data window.

    ``since``: an earlier as-of month; the windows and knowledge months then run from its own to
    ``as_of``'s, for the :data:`~riskstrat.features.concept_sql.CARRIED` concepts of every month
    between.
    """
    first = scalar(con, "SELECT MIN(delivery_month) FROM eligibility WHERE delivery_month <= ?", [since or as_of])
    set_params(con, as_of=as_of, known_month=as_of, known_first=since,
               first_month=add_months(since or as_of, -(data_window_months() - 1)), last_month=as_of, data_start=first)


#: How many people each population step kept, as one row (read on DuckDB or on Spark).
POPULATION_STEPS_SQL = """
SELECT
    COUNT(*),
    SUM(enrolled),
    SUM(CASE WHEN enrolled = 1 AND alive = 1 THEN 1 ELSE 0 END),
    SUM(CASE WHEN enrolled = 1 AND alive = 1 AND age_years BETWEEN 0 AND 20 THEN 1 ELSE 0 END)
FROM eligibility_at_as_of
"""


def population_steps(row) -> list[tuple[str, int]]:
    """:data:`POPULATION_STEPS_SQL`'s row as (step, people kept)."""
    steps = ("people in the eligibility snapshot of the as-of month", "enrolled on the last day of the month",
             "alive on that day", "aged 0-20 on that day (the scored population)")
    return [(step, int(n or 0)) for step, n in zip(steps, row, strict=True)]


def population_attrition(con: duckdb.DuckDBPyConnection) -> list[tuple[str, int]]:
    """How many people each population step kept, after :func:`prepare_as_of` and materialising."""
    return population_steps(first_row(con, POPULATION_STEPS_SQL))


def _check_snapshot(con: duckdb.DuckDBPyConnection, as_of: str) -> None:
    found = scalar(con, "SELECT COUNT(*) FROM eligibility WHERE delivery_month = ?", [as_of])
    if not found:
        raise FeatureError(
            f"no eligibility snapshot delivered in {as_of}: features for a month need that month's delivery "
            "ingested into the lake"
        )


def prepare_features(con: duckdb.DuckDBPyConnection, as_of: str) -> None:
    """Make ``con`` ready to materialise ``as_of``'s feature concepts (on DuckDB or, copied, on Spark):
    the month's snapshot checked, the code sets registered and the parameters set."""
    _check_snapshot(con, as_of)
    register_codesets(con)
    prepare_as_of(con, as_of)


def check_lookback(settings: Settings) -> None:
    """Refuse a look-back shorter than the longest feature window: those features would be cut short."""
    if settings.model.lookback_months < lookback_needed():
        raise FeatureError(
            f"model.lookback_months = {settings.model.lookback_months} is shorter than the longest feature "
            f"window ({lookback_needed()} months)"
        )


def build_features(workspace_or_connection, as_of: str, settings: Settings | None = None) -> pd.DataFrame:
    """The feature table for as-of month ``as_of``: one row per child in the population, sorted by person_id.

    Columns: ``person_id`` then :func:`feature_names`. Only what the plan knew by the end of
    ``as_of`` is read (see the module docstring); adding later deliveries changes nothing.
    """
    check_month(as_of, "as_of")
    check_lookback(settings or Settings())
    con = open_lake(workspace_or_connection)
    try:
        prepare_features(con, as_of)
        materialise(con, feature_concepts())
        return _feature_frame(con, as_of)
    finally:
        con.close()  # our own connection, or our cursor on the caller's (theirs stays open)


def _feature_frame(con: duckdb.DuckDBPyConnection, as_of: str) -> pd.DataFrame:
    frame = con.execute(feature_sql()).df()
    frame["person_id"] = frame["person_id"].astype("string")
    frame = frame.reset_index(drop=True)
    # a stage handed this table instead of building it (scoring, after the drift check) can
    # then refuse one built for another month
    frame.attrs["as_of"] = as_of
    return frame


#: The database :func:`build_feature_months` holds the carried concepts in while it builds the months.
_CARRIED_DB = "riskstrat_carried"


def build_feature_months(workspace, months: Sequence[str],
                         settings: Settings | None = None) -> Iterator[tuple[str, pd.DataFrame]]:
    """(month, :func:`build_features` of it) for each as-of month, in month order, from one pass over the claims.

    Building months one at a time chooses every claim's final version and reads its lines, codes
    and groups once per month: two thirds of a month's build on a state-sized plan, for the same
    lines month after month. Here the :data:`~riskstrat.features.concept_sql.CARRIED` concepts
    are built once for every knowledge month from the first to the last, each row with the months
    it stood in, and each month takes its rows by a filter; the concepts that combine rows are
    then built month by month from those, exactly as :func:`build_features` builds them
    (tests/features/test_feature_months.py holds the two equal). One month's tables are held at
    a time.
    """
    wanted = sorted({check_month(m, "as_of") for m in months})
    if not wanted:
        return
    check_lookback(settings or Settings())
    con = open_lake(workspace)
    try:
        for month in wanted:
            _check_snapshot(con, month)
        register_codesets(con)
        prepare_as_of(con, wanted[-1], since=wanted[0])
        shared = concept_order(CARRIED)  # the carried concepts and the code-keyed maps they read
        # The carried rows are held compressed, in a database of their own. As temp tables they took
        # 3.6 GB on 500k members, past DuckDB's memory limit: every month's concepts read them back
        # from disk and spilled their own work beside them. Compressed (at the checkpoint) they take
        # about 0.5 GB. In whole 16-month builds a month took 5-7.5 s; with the temp tables it took
        # 6.6 s for the second month and 10 s by the tenth (so the first months alone do not show the gain).
        con.execute(f"ATTACH ':memory:' AS {_CARRIED_DB} (COMPRESS)")
        materialise(con, shared, carried_into=_CARRIED_DB)
        # The diagnosis columns were read once, into diagnoses and its code map; holding them for
        # the months' concepts would only take memory (a concept reading them would fail, not differ).
        for column in concept_columns("medical_claims"):
            if column.startswith("diagnosis_code_"):
                con.execute(f"ALTER TABLE {_CARRIED_DB}.medical_claims DROP COLUMN {column}")
        for name, dated in CARRIED.items():
            # A view on the month in params, not a copy: each concept then reads only the rows and
            # columns it needs. Copying each month's rows into tables took 7 of its 22 seconds.
            con.execute(
                f"CREATE OR REPLACE TEMP VIEW {name} AS SELECT c.* FROM {_CARRIED_DB}.{name} AS c "
                "CROSS JOIN params AS p WHERE c.known_from <= p.known_month AND c.known_until > p.known_month "
                f"AND c.{dated} BETWEEN p.window_start AND p.window_end"
            )
        _compress(con, _CARRIED_DB)
        for month in wanted:
            prepare_as_of(con, month)
            materialise(con, feature_concepts(), reuse=shared)
            yield month, _feature_frame(con, month)
    finally:
        try:
            # ATTACH belongs to the database, not to our cursor: a caller's connection must not keep it.
            con.execute(f"DETACH DATABASE IF EXISTS {_CARRIED_DB}")
        finally:
            con.close()  # our own connection, or our cursor on the caller's (theirs stays open)


def _compress(con: duckdb.DuckDBPyConnection, database: str) -> None:
    """Compress an attached in-memory database's tables (an in-memory database compresses at a checkpoint).

    Chimp and Patas, DuckDB's older compressions for floating-point columns, are left out while it
    does: the checkpoint weighs every method it may use on each segment, and for the DOUBLE columns
    it chose ALP, never these two, yet weighing them took half its time. On the 500k-member plan the
    checkpoint took 37 s with them and 17.5 s without, choosing the same methods for the same size.
    The setting belongs to the database, so a caller's is put back.
    """
    before = scalar(con, "SELECT current_setting('disabled_compression_methods')")
    con.execute("SET disabled_compression_methods = 'chimp,patas'")
    try:
        con.execute(f"CHECKPOINT {database}")
    finally:
        con.execute(f"SET disabled_compression_methods = '{before}'")


def eligibility_at(workspace_or_connection, as_of: str, columns: list[str]) -> pd.DataFrame:
    """Every person of ``as_of``'s eligibility snapshot, described by the span that describes them at T.

    The span is chosen by the one rule, ``concepts/eligibility_at_as_of.sql`` (the one the features
    use); the result has person_id, enrolled, alive, age_years and the eligibility ``columns`` of
    that span, one row per person, sorted by person_id. A month with no snapshot in the lake is
    refused (:class:`FeatureError`). Scoring reads contact details and the
    audit reads fairness groups through this, so all three describe a child by the same row.
    """
    check_month(as_of, "as_of")
    con = open_lake(workspace_or_connection)
    try:
        _check_snapshot(con, as_of)
        prepare_as_of(con, as_of)
        materialise(con, ["eligibility_at_as_of"])
        return span_rows(con, columns)
    finally:
        con.close()  # our own connection, or our cursor on the caller's (theirs stays open)


def span_rows(con: duckdb.DuckDBPyConnection, columns: list[str]) -> pd.DataFrame:
    """:func:`eligibility_at` on a connection where ``eligibility_at_as_of`` is already materialised
    (after :func:`prepare_as_of`), for a caller that reads other concepts of the same month too."""
    known = set(load_contract("eligibility").column_names)
    unknown = [c for c in columns if c not in known]
    if unknown:
        raise FeatureError(f"eligibility has no column(s) {', '.join(unknown)}")
    picked = "".join(f", e.{identifier(c)}" for c in columns if c != "person_id")
    return con.execute(
        f"SELECT s.person_id, s.enrolled, s.alive, s.age_years{picked} "
        "FROM eligibility_at_as_of AS s CROSS JOIN params AS p JOIN eligibility AS e "
        "ON e.delivery_month = p.as_of_month AND e.source_file = s.span_file AND e.source_row = s.span_row "
        "ORDER BY s.person_id"
    ).df()
