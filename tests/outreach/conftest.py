"""A real PostgreSQL server for the outreach log's tests, started for the session from Debian's
packages (initdb and pg_ctl), on a Unix socket in a temporary folder; skipped, saying why, where
PostgreSQL is not installed."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest


def _pg_bin(name: str) -> str | None:
    found = shutil.which(name) or sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found if isinstance(found, str) else (found[-1] if found else None)


@pytest.fixture(scope="session")
def postgres_url():
    initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
    if not initdb or not pg_ctl:
        pytest.skip("PostgreSQL is not installed (apt-get install postgresql): the PostgreSQL outreach-log tests need it")
    # Not under pytest's temporary folders: they are private to root, which the server may not be;
    # and a short path, since the socket's path must fit in 107 bytes.
    folder = Path(tempfile.mkdtemp(prefix="riskstrat-pg-"))
    data = folder / "data"
    # PostgreSQL refuses to run as root: as root, the server runs as the postgres account.
    as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    if as_user:
        shutil.chown(folder, "postgres")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    run = {"check": True, "capture_output": True, "text": True}
    subprocess.run([*as_user, initdb, "-D", str(data), "-A", "trust", "-U", "riskstrat", "--no-sync"], **run)
    options = f"-k {folder} -p {port} -c listen_addresses='' -c fsync=off"
    subprocess.run([*as_user, pg_ctl, "-D", str(data), "-o", options, "-l", str(folder / "log"), "-w", "start"], **run)
    try:
        yield f"postgresql+psycopg://riskstrat@/postgres?host={folder}&port={port}"
    finally:
        subprocess.run([*as_user, pg_ctl, "-D", str(data), "-m", "immediate", "-w", "stop"], capture_output=True)
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request, tmp_path):
    """(workspace, settings) of an outreach log on SQLite in the workspace, then on PostgreSQL."""
    from riskstrat.config import OutreachSettings, Settings
    from riskstrat.outreach import db

    if request.param == "sqlite":
        return tmp_path, Settings()
    settings = Settings(outreach=OutreachSettings(database_url=request.getfixturevalue("postgres_url")))
    engine = db.open_database(tmp_path, settings)
    with engine.begin() as con:  # each test starts from empty tables
        for table in reversed(db.metadata.sorted_tables):
            con.execute(table.delete())
    return tmp_path, settings
