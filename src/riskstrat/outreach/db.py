"""The outreach database: its tables, and where it lives.

SQLite in the workspace by default (``outreach/outreach.sqlite``, WAL so the web worklist reads
while it writes), or any SQLAlchemy URL from ``[outreach] database_url`` (PostgreSQL for a plan
whose outreach team is large). Written with SQLAlchemy Core, which the project already has through
Prefect: the same statements run on both.

The outreach log and the access log are append-only: nothing updates or deletes their rows; a
correction is a new row naming the row it corrects. Accounts are the one table rows change in
(a disabled account, failed logins, a lock).
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path

from sqlalchemy import (
    Boolean,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    event,
)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from riskstrat.config import Settings
from riskstrat.core.errors import RiskstratError

OUTREACH_DIR = "outreach"
SQLITE_FILE = "outreach.sqlite"

metadata = MetaData()

#: One row per outreach attempt, as recorded; a correction is a new row whose ``corrects`` names the row it replaces.
attempts = Table(
    "outreach_attempt", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("person_id", String(64), nullable=False, index=True),
    Column("program", String(64), nullable=False),
    Column("outcome", String(32), nullable=False),
    Column("attempt_date", Date, nullable=False),
    Column("note", Text),
    Column("recorded_by", String(64), nullable=False),
    Column("recorded_at", DateTime, nullable=False),
    Column("corrects", Integer, ForeignKey("outreach_attempt.id")),
)

#: A row is corrected at most once: two people correcting the same entry at the same moment would
#: otherwise both pass the web worklist's check (riskstrat.app.server) and both count.
one_correction = Index("ux_outreach_attempt_corrects", attempts.c.corrects, unique=True)

#: Who works a child for a programme; the latest row wins (a supervisor's reassignment is a new row).
assignments = Table(
    "outreach_assignment", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("person_id", String(64), nullable=False, index=True),
    Column("program", String(64), nullable=False),
    Column("assigned_to", String(64), nullable=False),
    Column("assigned_by", String(64), nullable=False),
    Column("assigned_at", DateTime, nullable=False),
)

#: The web worklist's accounts. Passwords only as Argon2 hashes.
users = Table(
    "app_user", metadata,
    Column("username", String(64), primary_key=True),
    Column("password_hash", String(255), nullable=False),
    Column("role", String(16), nullable=False),
    Column("programs", Text, nullable=False, default=""),
    Column("disabled", Boolean, nullable=False, default=False),
    Column("failed_logins", Integer, nullable=False, default=0),
    Column("locked_until", DateTime),
    Column("created_at", DateTime, nullable=False),
)

#: Every view of a member page and every write: who, when, what, which member. Never a note's text.
access_log = Table(
    "access_log", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", DateTime, nullable=False),
    Column("username", String(64), nullable=False),
    Column("action", String(32), nullable=False),
    Column("person_id", String(64)),
    Column("detail", String(255)),
)


def now() -> datetime:
    """The time every row is stamped with: UTC, naive (SQLite and PostgreSQL store it alike), to the second."""
    return datetime.now(UTC).replace(tzinfo=None, microsecond=0)


class OutreachDatabaseError(RiskstratError):
    """The outreach database cannot be opened; the message names it and why."""


def database_url(workspace: Path | str, settings: Settings) -> str:
    """``[outreach] database_url``, or SQLite at ``W/outreach/outreach.sqlite``."""
    if settings.outreach.database_url:
        return settings.outreach.database_url
    return f"sqlite:///{(Path(workspace) / OUTREACH_DIR / SQLITE_FILE).resolve()}"


def exists(workspace: Path | str, settings: Settings) -> bool:
    """Whether there is a database to read: a configured URL always is; SQLite once its file exists."""
    return bool(settings.outreach.database_url) or (Path(workspace) / OUTREACH_DIR / SQLITE_FILE).is_file()


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    # WAL: the monthly job and several browsers read while one request writes; NORMAL is durable in WAL.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    # Two people saving in the same second wait for each other instead of failing.
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


@lru_cache(maxsize=8)
def _engine(url: str) -> Engine:
    engine = create_engine(url, future=True, pool_pre_ping=True)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    metadata.create_all(engine)
    # create_all adds an index only with its table: a database made before the index gets it here.
    # One that already holds two corrections of a row (the race the index closes) cannot take it;
    # it still opens, without the index: the log is append-only, and the web worklist's own check
    # still refuses a second correction made after the first.
    try:
        one_correction.create(engine, checkfirst=True)
    except IntegrityError:
        pass
    return engine


def open_database(workspace: Path | str, settings: Settings) -> Engine:
    """The outreach database's engine, its tables created when missing (one engine per URL per process)."""
    url = database_url(workspace, settings)
    if url.startswith("sqlite:///"):
        file = Path(url.removeprefix("sqlite:///"))
        file.parent.mkdir(parents=True, exist_ok=True)
    if not settings.outreach.database_url:
        # The workspace's own file (a configured URL may be ":memory:" or carry URI options): password
        # hashes, notes and the access log, readable by the account that runs riskstrat only (SQLite
        # creates its WAL and shared-memory files with the database file's mode); a file made before
        # riskstrat did this is closed up too.
        file.touch(mode=0o600, exist_ok=True)
        if file.stat().st_mode & 0o077:
            file.chmod(0o600)
    try:
        return _engine(url)
    except Exception as exc:  # SQLAlchemy: a bad URL, a missing driver, a server that refuses
        where = "[outreach] database_url" if settings.outreach.database_url else url.removeprefix("sqlite:///")
        raise OutreachDatabaseError(f"{where}: the outreach database cannot be opened ({type(exc).__name__})") from None
