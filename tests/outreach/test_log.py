"""The outreach log on a real SQLite database: append-only, corrections, concurrent writers, export."""

from __future__ import annotations

import csv
import threading
from datetime import date

import pytest
from sqlalchemy import create_engine, text
from typer.testing import CliRunner

from riskstrat.cli import app
from riskstrat.config import Settings
from riskstrat.ingest.contracts import load_contract
from riskstrat.outreach import db
from riskstrat.outreach.log import (
    OutreachError,
    effective_attempts,
    export_care_management,
    history,
    read_log,
    record_attempt,
    scoring_statuses,
)


@pytest.fixture()
def engine(database):
    return db.open_database(*database)


def _record(engine, person="P1", outcome="attempted", day=3, **kw):
    return record_attempt(engine, person_id=person, program="cares", outcome=outcome,
                          attempt_date=date(2025, 11, day), recorded_by="ann", **kw)


def test_the_database_is_sqlite_in_wal_mode_in_the_workspace(tmp_path):
    engine = db.open_database(tmp_path, Settings())
    assert (tmp_path / "outreach" / "outreach.sqlite").is_file()
    assert (tmp_path / "outreach" / "outreach.sqlite").stat().st_mode & 0o777 == 0o600  # hashes and notes
    with engine.connect() as con:
        assert con.execute(text("PRAGMA journal_mode")).scalar() == "wal"


def test_a_correction_is_a_new_row_and_the_corrected_row_stops_counting(engine):
    wrong = _record(engine, outcome="declined")
    right = _record(engine, outcome="reached", corrects=wrong)
    rows = history(engine, "P1")
    assert [r.id for r in rows] == [right, wrong]  # both kept, newest first
    assert rows[0].corrects == wrong
    counted = effective_attempts(engine)
    assert counted["id"].tolist() == [right] and counted["outcome"].tolist() == ["reached"]
    with pytest.raises(OutreachError, match="not one of this child's attempts"):
        _record(engine, person="P2", outcome="reached", corrects=wrong)
    # the database, not only the web page, keeps a row to one correction: two saved at once cannot both count
    with pytest.raises(OutreachError, match=f"attempt {wrong} has already been corrected"):
        _record(engine, outcome="attempted", corrects=wrong)
    assert [r.id for r in history(engine, "P1")] == [right, wrong]


@pytest.mark.parametrize(("field", "value", "message"), [
    ("outcome", "maybe", "outcome 'maybe' is not one of"),
    ("attempt_date", date(2999, 1, 1), "is in the future"),
    ("note", "x" * 2001, "the note is 2,001 characters"),
])
def test_a_bad_attempt_is_refused_in_one_line_and_writes_nothing(engine, field, value, message):
    values = {"person_id": "P1", "program": "cares", "outcome": "reached", "attempt_date": date(2025, 11, 3),
              "recorded_by": "ann", field: value}
    with pytest.raises(OutreachError, match=message) as refused:
        record_attempt(engine, **values)
    assert "\n" not in str(refused.value)
    assert effective_attempts(engine).empty


def test_two_writers_in_the_same_second_both_keep_their_rows(engine):
    start = threading.Barrier(2)

    def write(outcome):
        start.wait()
        _record(engine, outcome=outcome)

    threads = [threading.Thread(target=write, args=(o,)) for o in ("reached", "declined")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    rows = history(engine, "P1")
    assert sorted(r.outcome for r in rows) == ["declined", "reached"]
    assert len({r.id for r in rows}) == 2


def test_scoring_reads_the_log_as_of_the_month_in_care_management_words(database, engine):
    workspace, settings = database
    _record(engine, "P1", "attempted", 3)
    _record(engine, "P2", "not_eligible", 4)
    _record(engine, "P3", "declined", 28)
    statuses = scoring_statuses(read_log(workspace, settings, date(2025, 11, 27)))
    assert statuses.set_index("person_id")["status"].to_dict() == {"P1": "in_outreach", "P2": "not_eligible"}
    assert scoring_statuses(read_log(workspace / "elsewhere", Settings(), date(2025, 11, 27))).empty  # no database


def test_the_export_is_a_care_management_extract_inside_the_workspace(database, engine):
    tmp_path, settings = database
    _record(engine, "P1", "declined", 3)
    _record(engine, "P1", "enrolled", 9)
    _record(engine, "P2", "not_eligible", 4)
    path, rows = export_care_management(tmp_path, settings, "exports")
    assert path == tmp_path / "exports" / "care_management.csv" and rows == 2
    contract = load_contract("care_management")
    with open(path, encoding="utf-8", newline="") as fh:
        read = list(csv.DictReader(fh))
    assert list(read[0]) == [c.name for c in contract.columns]
    allowed = next(c.enum for c in contract.columns if c.name == "status")
    assert {r["status"] for r in read} <= set(allowed)
    assert [(r["person_id"], r["status"], r["status_date"]) for r in read] == [
        ("P1", "enrolled", "2025-11-09"), ("P2", "discharged", "2025-11-04")]


@pytest.mark.parametrize("target", ["/tmp/care_management.csv", "../outside.csv", "link/care_management.csv"])
def test_an_export_path_outside_the_workspace_is_refused(tmp_path, target):
    workspace = tmp_path / "ws"
    workspace.mkdir()
    (workspace / "link").symlink_to(tmp_path)  # a folder inside that leads outside
    with pytest.raises(OutreachError, match="an export must be written inside the workspace"):
        export_care_management(workspace, Settings(), target)
    result = CliRunner().invoke(app, ["outreach", "export", "--workspace", str(workspace), "--out", target])
    assert result.exit_code == 1
    assert "must be written inside the workspace" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "outside.csv").exists() and not (tmp_path / "care_management.csv").exists()


def test_any_sqlalchemy_url_from_the_settings_holds_the_log(tmp_path):
    from riskstrat.config import OutreachSettings

    url = f"sqlite:///{tmp_path / 'elsewhere' / 'team.db'}"
    (tmp_path / "elsewhere").mkdir()
    settings = Settings(outreach=OutreachSettings(database_url=url))
    record_attempt(db.open_database(tmp_path / "ws", settings), person_id="P1", program="cares", outcome="reached",
                   attempt_date=date(2025, 11, 3), recorded_by="ann")
    assert (tmp_path / "elsewhere" / "team.db").is_file() and not (tmp_path / "ws" / "outreach").exists()
    assert scoring_statuses(read_log(tmp_path / "ws", settings, date(2025, 11, 30)))["status"].tolist() == ["in_outreach"]
    broken = Settings(outreach=OutreachSettings(database_url="postgresql+nosuchdriver://h/db"))
    with pytest.raises(db.OutreachDatabaseError, match=r"\[outreach\] database_url: the outreach database cannot be opened"):
        db.open_database(tmp_path, broken)


def test_a_backdated_entry_or_a_correction_makes_the_month_score_again(database, engine):
    """The monthly job calls a month unchanged when its inputs hash the same: the log up to the
    month's end is one of them, so an outcome recorded late for that month is not missed."""
    from riskstrat.jobs.steps import score_inputs
    from riskstrat.outreach.log import log_fingerprint

    workspace, settings = database
    before = score_inputs(workspace, "2025-11", settings, None)
    first = _record(engine, "P1", "declined", 3)
    after_entry = score_inputs(workspace, "2025-11", settings, None)
    assert after_entry != before
    _record(engine, "P1", "reached", 3, corrects=first)
    assert score_inputs(workspace, "2025-11", settings, None) != after_entry
    later = log_fingerprint(read_log(workspace, settings, date(2025, 11, 30)), settings)
    assert log_fingerprint(read_log(workspace, settings, date(2025, 10, 31)), settings)["attempts"] == 0  # none by then
    assert later["attempts"] == 1 and later["in_outreach_days"] == 90


def test_a_database_made_before_the_one_correction_index_opens_even_with_a_doubled_correction(tmp_path):
    # as the race left one: two corrections of one row, in a database without the index, readable by all
    folder = tmp_path / "outreach"
    folder.mkdir()
    raw = create_engine(f"sqlite:///{folder / 'outreach.sqlite'}")
    db.metadata.create_all(raw, tables=[db.attempts])
    with raw.begin() as con:
        con.execute(text("DROP INDEX IF EXISTS ux_outreach_attempt_corrects"))
        for row, corrects in ((1, None), (2, 1), (3, 1)):
            con.execute(text("INSERT INTO outreach_attempt (id, person_id, program, outcome, attempt_date, recorded_by, "
                             "recorded_at, corrects) VALUES (:id, 'P1', 'cares', 'reached', '2025-11-03', 'ann', "
                             "'2025-11-03 10:00:00', :corrects)"), {"id": row, "corrects": corrects})
    raw.dispose()
    (folder / "outreach.sqlite").chmod(0o644)
    engine = db.open_database(tmp_path, Settings())
    assert [r.id for r in history(engine, "P1")] == [3, 2, 1]
    assert (folder / "outreach.sqlite").stat().st_mode & 0o777 == 0o600
