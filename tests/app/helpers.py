"""Logging in with FastAPI's TestClient, and reading the outreach database back."""

from __future__ import annotations

import re
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from riskstrat.app.month import latest_month
from riskstrat.outreach import db

SCRIPT_NAME = "<script>alert(1)</script>"
FORMULA_NAME = "=cmd|' /C calc'!A0"
PASSWORD = "correct horse battery"
#: The accounts of the published workspace: username -> (role, programmes).
USERS = {"olive": ("outreach", ("stronger_together",)), "sam": ("supervisor", ()), "ana": ("analyst", ())}
TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def token(page_html: str) -> str:
    return TOKEN.search(page_html).group(1)


def logged_in(app, username: str, password: str) -> TestClient:
    client = TestClient(app)
    form = client.get("/login")
    reply = client.post("/login", data={"username": username, "password": password, "csrf_token": token(form.text)},
                        follow_redirects=False)
    assert reply.status_code == 303, reply.text
    return client


def count(engine, table) -> int:
    with engine.connect() as con:
        return con.execute(select(func.count()).select_from(table)).scalar_one()


def on_list(workspace: Path, name: str) -> list[str]:
    """The children on one list this month, in list order."""
    return list(latest_month(workspace).rows(name)["person_id"])


def attempts_of(engine, person_id: str) -> list[dict]:
    with engine.connect() as con:
        rows = con.execute(select(db.attempts).where(db.attempts.c.person_id == person_id).order_by(db.attempts.c.id))
        return [dict(r._mapping) for r in rows]
