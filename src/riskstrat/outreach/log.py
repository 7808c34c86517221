"""The outreach log: each attempt an outreach worker records, and what the monthly job reads of it.

An attempt names a child, a programme (a model specification's name: the list the child was
worked from), a date and an outcome (:data:`OUTCOMES`). Rows are only ever added: a correction is
a new row whose ``corrects`` names the row it replaces, and the replaced row then no longer counts.

The monthly job reads the log as of the month's last day once (:func:`read_log`) and turns it into
:func:`scoring_statuses`, in the same vocabulary as the plan's ``care_management`` extract, so one suppression rule covers both
(:mod:`riskstrat.scoring.suppression`): enrolled children leave the list while enrolled; declined,
unable to reach and not eligible leave it for ``scoring.suppress_days``. ``attempted`` and
``reached`` keep a child on the list, as "in outreach" (:func:`in_outreach`).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

import pandas as pd
from sqlalchemy import insert, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from riskstrat.config import Settings
from riskstrat.core.errors import RiskstratError
from riskstrat.core.files import write_atomic
from riskstrat.outreach import db

#: Outcome -> (words shown to staff, the care_management status it exports as).
#: ``not_eligible`` has no status of its own in the extract: the programme closed it, "discharged".
OUTCOMES = {
    "attempted": ("attempted", "referred"),
    "reached": ("reached", "referred"),
    "declined": ("declined", "declined"),
    "unable_to_reach": ("unable to reach", "unable_to_reach"),
    "enrolled": ("enrolled", "enrolled"),
    "not_eligible": ("not eligible", "discharged"),
}
#: Outcomes that mean the team is still working with the family.
OPEN_OUTCOMES = ("attempted", "reached")
#: The care_management extract's columns (shared/spec/inputs.md), in order.
CARE_MANAGEMENT_COLUMNS = ["person_id", "program", "status", "status_date", "agency", "care_coordinator_id"]
NOTE_MAX_CHARS = 2000


class OutreachError(RiskstratError):
    """An attempt or an export is refused; the message names the field or path and the rule."""


@dataclass(frozen=True)
class Attempt:
    """One recorded attempt, as :func:`history` returns it (``corrects``: the row it replaced)."""

    id: int
    person_id: str
    program: str
    outcome: str
    attempt_date: date
    note: str | None
    recorded_by: str
    recorded_at: datetime
    corrects: int | None

    @property
    def outcome_words(self) -> str:
        return OUTCOMES[self.outcome][0]


def record_attempt(engine: Engine, *, person_id: str, program: str, outcome: str, attempt_date: date,
                   recorded_by: str, note: str | None = None, corrects: int | None = None,
                   today: date | None = None) -> int:
    """Add one attempt (one transaction) and return its id; a bad field is refused in one line."""
    if outcome not in OUTCOMES:
        raise OutreachError(f"outcome {outcome!r} is not one of {', '.join(OUTCOMES)}")
    if not person_id or not program:
        raise OutreachError("an attempt needs a child and a programme")
    today = today or date.today()  # the local date, as the form's default and limit
    if attempt_date > today:
        raise OutreachError(f"attempt date {attempt_date.isoformat()} is in the future")
    note = (note or "").strip() or None
    if note is not None and len(note) > NOTE_MAX_CHARS:
        raise OutreachError(f"the note is {len(note):,} characters; at most {NOTE_MAX_CHARS:,}")
    with engine.begin() as con:
        if corrects is not None:
            original = con.execute(select(db.attempts.c.person_id).where(db.attempts.c.id == corrects)).first()
            if original is None or original.person_id != person_id:
                raise OutreachError(f"attempt {corrects} is not one of this child's attempts")
        try:
            result = con.execute(insert(db.attempts).values(
                person_id=person_id, program=program, outcome=outcome, attempt_date=attempt_date, note=note,
                recorded_by=recorded_by, recorded_at=db.now(), corrects=corrects))
        except IntegrityError:
            if corrects is None:
                raise
            # db.one_correction: someone else's correction of the row was saved first
            raise OutreachError(f"attempt {corrects} has already been corrected") from None
        return int(result.inserted_primary_key[0])


def _effective(until: date | None = None):
    """The attempts that count: not replaced by a correction, dated by ``until``."""
    a = db.attempts
    corrected = select(a.c.corrects).where(a.c.corrects.is_not(None))
    query = select(a).where(a.c.id.not_in(corrected))
    if until is not None:
        query = query.where(a.c.attempt_date <= until)
    return query


def history(engine: Engine, person_id: str) -> list[Attempt]:
    """Every attempt recorded for a child, corrected ones included, newest first."""
    a = db.attempts
    with engine.connect() as con:
        rows = con.execute(select(a).where(a.c.person_id == person_id).order_by(a.c.attempt_date.desc(), a.c.id.desc()))
        return [Attempt(**row._mapping) for row in rows]


def effective_attempts(engine: Engine, until: date | None = None) -> pd.DataFrame:
    """The attempts that count (id, person_id, program, outcome, attempt_date, recorded_by), oldest first."""
    a = db.attempts
    query = _effective(until).with_only_columns(a.c.id, a.c.person_id, a.c.program, a.c.outcome, a.c.attempt_date,
                                                a.c.recorded_by).order_by(a.c.attempt_date, a.c.id)
    with engine.connect() as con:
        rows = con.execute(query).all()
    frame = pd.DataFrame(rows, columns=["id", "person_id", "program", "outcome", "attempt_date", "recorded_by"])
    frame["person_id"] = frame["person_id"].astype("string")
    return frame


def latest_outcomes(engine: Engine, until: date | None = None) -> pd.DataFrame:
    """Each child's latest attempt per programme (person_id, program, outcome, attempt_date)."""
    frame = effective_attempts(engine, until)
    latest = frame.groupby(["person_id", "program"], sort=False).tail(1)
    return latest[["person_id", "program", "outcome", "attempt_date"]].reset_index(drop=True)


#: What :func:`scoring_statuses` returns: care_management's columns, and the outcome as recorded.
STATUS_COLUMNS = ["person_id", "program", "status", "status_date", "outcome"]


def read_log(workspace: Path | str, settings: Settings, until: date) -> pd.DataFrame | None:
    """The attempts that count, dated by ``until`` (:func:`effective_attempts`); None without a
    database. A month's scoring reads the log once and derives all it needs from this frame."""
    if not db.exists(workspace, settings):
        return None
    return effective_attempts(db.open_database(workspace, settings), until)


def scoring_statuses(log: pd.DataFrame | None) -> pd.DataFrame:
    """The log (:func:`read_log`) in care_management's vocabulary (:data:`STATUS_COLUMNS`), for
    suppression: the outcomes that end or pause outreach keep their own names (``not_eligible``
    included), the open ones are ``in_outreach``. Empty without a database."""
    if log is None:
        return pd.DataFrame(columns=STATUS_COLUMNS)
    status = log["outcome"].where(~log["outcome"].isin(OPEN_OUTCOMES), "in_outreach")
    return pd.DataFrame({"person_id": log["person_id"], "program": log["program"].astype("string"),
                         "status": status.astype("string"), "status_date": log["attempt_date"],
                         "outcome": log["outcome"].astype("string")})[STATUS_COLUMNS]


def log_fingerprint(log: pd.DataFrame | None, settings: Settings) -> dict | None:
    """What scoring a month reads of the log (:func:`read_log`), as an input's record: the attempts
    that count and their digest (None without a database). A backdated entry or a correction
    changes it, so the monthly job scores the month again instead of calling it unchanged."""
    if log is None:
        return None
    rows = [[int(i), str(p), str(g), str(o), str(d)] for i, p, g, o, d in
            log[["id", "person_id", "program", "outcome", "attempt_date"]].itertuples(index=False)]
    digest = hashlib.sha256(json.dumps(rows, separators=(",", ":")).encode()).hexdigest()
    return {"attempts": len(rows), "sha256": digest, "in_outreach_days": settings.outreach.in_outreach_days}


def latest_per_child(log: pd.DataFrame, programs=None) -> pd.DataFrame:
    """Each child's latest row of ``log`` (attempts that count, oldest first, as
    :func:`effective_attempts` and :func:`scoring_statuses` give them), in ``programs`` only when given."""
    rows = log if programs is None else log[log["program"].isin(list(programs))]
    return rows.groupby("person_id", sort=False).tail(1)


def latest_words(statuses: pd.DataFrame, program: str | None = None) -> dict[str, str]:
    """Each child's latest outcome as the worklist shows it ("declined on 2025-11-03"), from
    :func:`scoring_statuses`; of ``program`` only when given, else of any (naming the programme)."""
    if statuses is None or statuses.empty:
        return {}
    latest = latest_per_child(statuses, None if program is None else [program])
    return {
        str(person): f"{OUTCOMES[outcome][0]}{'' if program else ' (' + str(prog).replace('_', ' ') + ')'} on {d.isoformat()}"
        for person, prog, outcome, d in zip(latest["person_id"], latest["program"], latest["outcome"],
                                            pd.to_datetime(latest["status_date"]).dt.date, strict=True)
    }


def in_outreach(statuses: pd.DataFrame, as_of_date: date, days: int, program: str | None = None) -> set[str]:
    """Children whose latest status (per programme; ``program`` only, when given) is ``in_outreach``
    and at most ``days`` old at ``as_of_date``: the team is working with the family."""
    if statuses is None or statuses.empty:
        return set()
    rows = statuses if program is None else statuses[statuses["program"] == program]
    rows = rows.assign(_date=pd.to_datetime(rows["status_date"]).dt.date)
    latest = rows.sort_values(["person_id", "program", "_date"], kind="stable").groupby(
        ["person_id", "program"], sort=False).tail(1)
    recent = latest["_date"] >= as_of_date - timedelta(days=days)
    return set(latest.loc[(latest["status"] == "in_outreach") & recent, "person_id"].astype(str))


def outreach_counts(log: pd.DataFrame | None, first_day: date) -> pd.DataFrame:
    """The log's attempts (:func:`read_log`, dated by the month's end) dated from ``first_day``, per
    programme and outcome (program, outcome, attempts, children), for the monthly report. Empty
    without a database."""
    columns = ["program", "outcome", "attempts", "children"]
    if log is None:
        return pd.DataFrame(columns=columns)
    frame = log[pd.to_datetime(log["attempt_date"]).dt.date >= first_day]
    if frame.empty:
        return pd.DataFrame(columns=columns)
    counts = frame.groupby(["program", "outcome"], sort=True).agg(
        attempts=("id", "size"), children=("person_id", "nunique")).reset_index()
    return counts[columns]


def assign_child(engine: Engine, *, person_id: str, program: str, assigned_to: str, assigned_by: str) -> None:
    """Assign a child's outreach for a programme to a worker (a supervisor's reassignment): a new row."""
    with engine.begin() as con:
        con.execute(insert(db.assignments).values(person_id=person_id, program=program, assigned_to=assigned_to,
                                                  assigned_by=assigned_by, assigned_at=db.now()))


def current_assignments(engine: Engine, person_id: str) -> dict[str, dict]:
    """Who works the child now, per programme (the latest assignment row of each)."""
    a = db.assignments
    with engine.connect() as con:
        found = con.execute(select(a).where(a.c.person_id == person_id).order_by(a.c.id)).all()
    return {r.program: dict(r._mapping) for r in found}


def inside_workspace(workspace: Path | str, path: Path | str) -> Path:
    """``path`` resolved (a relative path is taken inside the workspace), refused when it leads outside it.

    The log holds children's outreach history; an export must stay where the workspace's own
    access rules apply, and a symlink or ``..`` cannot lead it out.
    """
    root = Path(workspace).resolve()
    target = Path(path)
    target = (target if target.is_absolute() else root / target).resolve()
    if target != root and root not in target.parents:
        raise OutreachError(f"{path}: an export must be written inside the workspace {root}")
    return target


def care_management_rows(engine: Engine) -> pd.DataFrame:
    """The log in the ``care_management`` extract's format (shared/spec/inputs.md): each child's
    latest status per programme, as a snapshot, by person and programme."""
    latest = latest_outcomes(engine)
    out = pd.DataFrame({
        "person_id": latest["person_id"].astype(str),
        "program": latest["program"].astype(str),
        "status": latest["outcome"].map(lambda o: OUTCOMES[o][1]),
        "status_date": pd.to_datetime(latest["attempt_date"]).dt.strftime("%Y-%m-%d"),
        "agency": None,
        "care_coordinator_id": None,
    })
    return out.sort_values(["person_id", "program"], kind="stable").reset_index(drop=True)[CARE_MANAGEMENT_COLUMNS]


def export_care_management(workspace: Path | str, settings: Settings, out: Path | str) -> tuple[Path, int]:
    """Write the log as ``care_management.csv`` at ``out`` (inside the workspace), atomically; (path, rows)."""
    target = inside_workspace(workspace, out)
    if target.is_dir() or not target.suffix:  # a folder, existing or to be made
        target = target / "care_management.csv"
    rows = care_management_rows(db.open_database(workspace, settings))
    buffer = io.StringIO()
    rows.to_csv(buffer, index=False, quoting=csv.QUOTE_MINIMAL, lineterminator="\n")
    target.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(target, buffer.getvalue())
    return target, len(rows)
