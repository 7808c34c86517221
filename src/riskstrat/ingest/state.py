"""What ingest carries from one delivery month to the next, in temp tables of its DuckDB connection.

Known people and members (every eligibility delivery so far, accepted or quarantined), accepted
enrolment spans, and the row hashes of accepted incremental rows (to recognise resends). The
checks of a month read the state plus that month's own eligibility delivery (``persons_now``,
``member_now``, ``spans_now``).
"""

from __future__ import annotations

from pathlib import Path

from riskstrat.core.sql import literal as _q
from riskstrat.core.workspace import LAKE, QUARANTINE, partition_path
from riskstrat.ingest.checks import table_exists
from riskstrat.ingest.contracts import TABLES, Contract


def init(con) -> None:
    """Create the (empty) state tables on ingest's connection."""
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


def load_month(con, workspace: Path, month: str, contracts: dict[str, Contract]) -> None:
    """Bring an ingested month into the state: who was delivered in eligibility, spans, accepted row hashes.

    A person counts as known once any eligibility delivery carried them, accepted or quarantined:
    a defect in someone's eligibility row must not cascade into all their claims.
    """
    elig = partition_path(workspace, LAKE, "eligibility", month)
    elig_q = partition_path(workspace, QUARANTINE, "eligibility", month)
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
        p = partition_path(workspace, LAKE, t, month)
        # only incremental tables are checked for resends; a snapshot's hashes would just fill memory
        if p.exists() and contracts[t].kind == "incremental":
            con.execute(f"INSERT INTO seen_{t} SELECT row_hash FROM read_parquet({_q(p)})")


def remember_month(con, month: str, cur_people: bool, cur_spans: bool) -> None:
    """Add the month being committed to the state: what :func:`load_month` would read back from its files."""
    if cur_people:
        _add_people(con, "cur_people", month)
    if cur_spans:
        _add_spans(con, "SELECT * FROM cur_spans")
    for t in TABLES:
        if table_exists(con, f"new_seen_{t}"):
            con.execute(f"INSERT INTO seen_{t} SELECT h FROM new_seen_{t}")


def set_now_views(con, cur_people: bool, cur_spans: bool) -> None:
    """persons_now / member_now / spans_now: the state plus this month's eligibility delivery."""
    people = " UNION SELECT person_id FROM cur_people WHERE person_id IS NOT NULL" if cur_people else ""
    con.execute(f"CREATE OR REPLACE TEMP TABLE persons_now AS SELECT person_id FROM known_person{people}")
    members = (" UNION ALL SELECT member_id, person_id, '9999-99' FROM cur_people "
               "WHERE member_id IS NOT NULL AND person_id IS NOT NULL") if cur_people else ""
    con.execute("CREATE OR REPLACE TEMP TABLE member_now AS SELECT member_id, arg_max(person_id, month) AS person_id "
                f"FROM (SELECT * FROM known_member{members}) GROUP BY member_id")
    spans = " UNION SELECT * FROM cur_spans" if cur_spans else ""
    con.execute(f"CREATE OR REPLACE TEMP TABLE spans_now AS SELECT * FROM known_span{spans}")
