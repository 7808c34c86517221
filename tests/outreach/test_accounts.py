"""Accounts of the web worklist: Argon2 hashes only, lockout, disabling, the users command."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from riskstrat.cli import app
from riskstrat.config import AppSettings
from riskstrat.outreach import accounts, db

PASSWORD = "correct horse battery"


@pytest.fixture()
def engine(database):
    return db.open_database(*database)


def _hash(engine, username):
    with engine.connect() as con:
        return con.execute(select(db.users.c.password_hash).where(db.users.c.username == username)).scalar()


def test_a_password_is_kept_only_as_an_argon2id_hash(engine):
    accounts.add_user(engine, "ann", PASSWORD, "outreach", ["cares"])
    stored = _hash(engine, "ann")
    assert stored.startswith("$argon2id$") and PASSWORD not in stored
    assert accounts.authenticate(engine, "ann", PASSWORD, AppSettings()).programs == ("cares",)


def test_repeated_failures_lock_the_account_even_against_the_right_password(engine):
    settings = AppSettings(max_failed_logins=3, lockout_minutes=15)
    accounts.add_user(engine, "ann", PASSWORD, "supervisor")
    now = datetime(2026, 12, 6, 9, 0)
    for _ in range(3):
        with pytest.raises(accounts.LoginRefused):
            accounts.authenticate(engine, "ann", "wrong password!", settings, now=now)
    with pytest.raises(accounts.LoginRefused) as refused:
        accounts.authenticate(engine, "ann", PASSWORD, settings, now=now + timedelta(minutes=14))
    # the same words as a wrong password: a guesser learns nothing from them
    assert str(refused.value) == "the username or password is wrong, or the account is locked or disabled"
    assert accounts.authenticate(engine, "ann", PASSWORD, settings, now=now + timedelta(minutes=16)).username == "ann"


def test_a_disabled_account_cannot_log_in(engine):
    accounts.add_user(engine, "ann", PASSWORD, "analyst")
    accounts.set_disabled(engine, "ann")
    with pytest.raises(accounts.LoginRefused):
        accounts.authenticate(engine, "ann", PASSWORD, AppSettings())


@pytest.mark.parametrize(("args", "message"), [
    (("Ann", PASSWORD, "analyst", ()), "username 'Ann'"),
    (("ann", "short", "analyst", ()), "at least 12"),
    (("ann", PASSWORD, "nurse", ()), "role 'nurse' is not one of"),
    (("ann", PASSWORD, "outreach", ()), "needs at least one programme"),
    (("ann", PASSWORD, "outreach", ("stronger-togther",)),
     "programme 'stronger-togther' is not one of the workspace's lists: acute_event, cares, stronger_together"),
])
def test_a_bad_account_is_refused_in_one_line(engine, args, message):
    with pytest.raises(accounts.AccountError, match=message):
        accounts.add_user(engine, *args, known_programs=["acute_event", "cares", "stronger_together"])
    assert accounts.list_users(engine) == []


def test_the_users_command_asks_for_the_password_and_never_prints_it(tmp_path):
    runner = CliRunner()
    added = runner.invoke(app, ["users", "add", "ann", "--role", "outreach", "--program", "cares", "--workspace",
                                str(tmp_path)], input=f"{PASSWORD}\n{PASSWORD}\n")
    assert added.exit_code == 0, added.output
    assert "added ann (outreach; programmes: cares)" in added.output
    typo = runner.invoke(app, ["users", "add", "bea", "--role", "outreach", "--program", "stronger-togther",
                               "--password", PASSWORD, "--workspace", str(tmp_path)])
    assert typo.exit_code == 1 and "'stronger-togther' is not one of the workspace's lists" in typo.output
    again = runner.invoke(app, ["users", "add", "ann", "--role", "analyst", "--password", PASSWORD, "--workspace",
                                str(tmp_path)])
    assert again.exit_code == 1 and "username 'ann' is taken" in again.output
    assert runner.invoke(app, ["users", "disable", "ann", "--workspace", str(tmp_path)]).exit_code == 0
    listed = runner.invoke(app, ["users", "list", "--workspace", str(tmp_path)])
    assert "ann" in listed.output and "disabled" in listed.output
    assert PASSWORD not in added.output + listed.output and "argon2" not in listed.output
