"""The web worklist's accounts, logins and access log.

Passwords are kept only as Argon2id hashes (argon2-cffi's ``PasswordHasher``, its defaults: the
RFC 9106 low-memory profile). A login that fails ``app.max_failed_logins`` times in a row locks the
account for ``app.lockout_minutes``; while locked even the right password is refused, so a guesser
gains nothing by waiting for the right one.

Roles (minimum necessary): ``outreach`` sees the lists and members of their own programmes and
records outcomes; ``supervisor`` sees every programme and reassigns children; ``analyst`` sees the
reports and aggregates, never contact details.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import insert, select, update
from sqlalchemy.engine import Engine

from riskstrat.config import AppSettings
from riskstrat.core.errors import RiskstratError
from riskstrat.outreach import db


class Role(str, Enum):
    """The three roles (:data:`ROLES` says what each may do)."""

    outreach = "outreach"
    supervisor = "supervisor"
    analyst = "analyst"


ROLES = {
    Role.outreach.value: "lists and members of their programmes; records outreach outcomes",
    Role.supervisor.value: "every programme; records outcomes and reassigns children",
    Role.analyst.value: "reports and aggregates, without contact details",
}
USERNAME_PATTERN = r"^[a-z][a-z0-9._-]{1,63}$"
MIN_PASSWORD_CHARS = 12

_hasher = PasswordHasher()
# Verified against when the username is unknown, so an unknown name takes as long as a wrong password.
_DUMMY_HASH = _hasher.hash("riskstrat-no-such-user")


class AccountError(RiskstratError):
    """An account cannot be added or changed; the message names the field and the rule."""


class LoginRefused(RiskstratError):
    """A login is refused. The message is the same for a wrong name and a wrong password."""


@dataclass(frozen=True)
class User:
    """An account as the app checks it on each request; what each role may see is decided here, once."""

    username: str
    role: str
    programs: tuple[str, ...]
    disabled: bool
    locked_until: datetime | None = None

    @property
    def all_programs(self) -> bool:
        return self.role in ("supervisor", "analyst")

    @property
    def sees_contacts(self) -> bool:
        return self.role in ("outreach", "supervisor")

    @property
    def records_outcomes(self) -> bool:
        return self.role in ("outreach", "supervisor")

    @property
    def locked(self) -> bool:
        return self.locked_until is not None and self.locked_until > db.now()

    def may_see_program(self, program: str) -> bool:
        return self.all_programs or program in self.programs


def _user(row) -> User:
    programs = tuple(p for p in (row.programs or "").split(",") if p)
    return User(row.username, row.role, programs, bool(row.disabled), row.locked_until)


def add_user(engine: Engine, username: str, password: str, role: str, programs: list[str] | tuple[str, ...] = (),
             known_programs: Sequence[str] | None = None) -> User:
    """Create an account; refused in one line for a taken name, an unknown role, a short password or
    a programme that is not one of ``known_programs`` (the workspace's lists, when given): a
    mistyped programme would leave the worker an empty worklist."""
    if not re.fullmatch(USERNAME_PATTERN, username or ""):
        raise AccountError(f"username {username!r}: lower-case letters, digits, '.', '_' or '-', starting with a letter")
    if role not in ROLES:
        raise AccountError(f"role {role!r} is not one of {', '.join(ROLES)}")
    if len(password) < MIN_PASSWORD_CHARS:
        raise AccountError(f"the password has {len(password)} characters; at least {MIN_PASSWORD_CHARS}")
    programs = tuple(sorted({p.strip() for p in programs if p.strip()}))
    if role == "outreach" and not programs:
        raise AccountError("an outreach account needs at least one programme (--program)")
    unknown = [p for p in programs if known_programs is not None and p not in known_programs]
    if unknown:
        raise AccountError(f"programme {unknown[0]!r} is not one of the workspace's lists: {', '.join(known_programs)}")
    with engine.begin() as con:
        if con.execute(select(db.users.c.username).where(db.users.c.username == username)).first():
            raise AccountError(f"username {username!r} is taken")
        con.execute(insert(db.users).values(username=username, password_hash=_hasher.hash(password), role=role,
                                            programs=",".join(programs), disabled=False, failed_logins=0,
                                            created_at=db.now()))
    return User(username, role, programs, False)


def set_disabled(engine: Engine, username: str, disabled: bool = True) -> None:
    """Disable (or enable again) an account; its sessions end at their next request."""
    with engine.begin() as con:
        result = con.execute(update(db.users).where(db.users.c.username == username).values(disabled=disabled))
        if result.rowcount == 0:
            raise AccountError(f"no account named {username!r}")


def list_users(engine: Engine) -> list[User]:
    """Every account, by name."""
    with engine.connect() as con:
        return [_user(r) for r in con.execute(select(db.users).order_by(db.users.c.username))]


def get_user(engine: Engine, username: str) -> User | None:
    """The account named ``username``, as it is now (a session re-reads it on every request), or None."""
    with engine.connect() as con:
        row = con.execute(select(db.users).where(db.users.c.username == username)).first()
    return None if row is None else _user(row)


def authenticate(engine: Engine, username: str, password: str, settings: AppSettings,
                 now: datetime | None = None) -> User:
    """The account, when ``password`` is right and the account is neither disabled nor locked.

    Every refusal says the same thing to the person at the keyboard; the reason is for the access log.
    """
    now = now or db.now()
    refused = LoginRefused("the username or password is wrong, or the account is locked or disabled")
    with engine.connect() as con:
        row = con.execute(select(db.users).where(db.users.c.username == username)).first()
    if row is None or (row.locked_until is not None and row.locked_until > now):
        # The same Argon2 work as a wrong password, so the time taken tells nothing of the account.
        try:
            _hasher.verify(_DUMMY_HASH, password)
        except VerificationError:
            pass
        raise refused
    try:
        _hasher.verify(row.password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        # Counted in the database (two guesses at once both count), in a transaction of its own that
        # is committed before the refusal is raised.
        account = db.users.c.username == username
        with engine.begin() as con:
            con.execute(update(db.users).where(account).values(failed_logins=db.users.c.failed_logins + 1))
            failed = con.execute(select(db.users.c.failed_logins).where(account)).scalar()
            if failed >= settings.max_failed_logins:
                con.execute(update(db.users).where(account).values(
                    failed_logins=0, locked_until=now + timedelta(minutes=settings.lockout_minutes)))
        raise refused from None
    if row.disabled:
        raise refused
    values = {"failed_logins": 0, "locked_until": None}
    if _hasher.check_needs_rehash(row.password_hash):
        values["password_hash"] = _hasher.hash(password)
    with engine.begin() as con:
        con.execute(update(db.users).where(db.users.c.username == username).values(**values))
    return _user(row)


def log_access(engine: Engine, username: str, action: str, person_id: str | None = None,
               detail: str | None = None) -> None:
    """One access-log row (one transaction): a member page viewed, an outcome recorded, a login."""
    with engine.begin() as con:
        con.execute(insert(db.access_log).values(at=db.now(), username=username, action=action, person_id=person_id,
                                                 detail=None if detail is None else detail[:255]))


def access_rows(engine: Engine, person_id: str | None = None) -> list[dict]:
    """The access log in order, of one member when ``person_id`` is given (for audits and tests)."""
    query = select(db.access_log).order_by(db.access_log.c.id)
    if person_id is not None:
        query = query.where(db.access_log.c.person_id == person_id)
    with engine.connect() as con:
        return [dict(r._mapping) for r in con.execute(query)]
