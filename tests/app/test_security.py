"""The web worklist's security model, over a real published month and a real SQLite outreach log."""

from __future__ import annotations

import base64
import csv
import io
import json
import re
import shutil
import time
import zipfile
from datetime import date, timedelta
from pathlib import Path

from fastapi.testclient import TestClient
from helpers import PASSWORD, SCRIPT_NAME, attempts_of, count, logged_in, on_list, token
from itsdangerous import TimestampSigner
from starlette.routing import Route

from riskstrat.app.security import session_secret
from riskstrat.app.server import SESSION_COOKIE, create_app
from riskstrat.config import load_settings
from riskstrat.outreach import accounts, db
from riskstrat.outreach.db import open_database
from riskstrat.outreach.log import effective_attempts

PHONE = "555-0100"  # every child's phone in the tiny lake


def test_every_route_refuses_a_request_without_a_session(app, engine):
    routes = [r for r in app.routes if isinstance(r, Route) and r.path not in ("/login",)]
    assert len(routes) >= 10
    before = count(engine, db.attempts), count(engine, db.assignments)
    client = TestClient(app)
    for route in routes:
        path = route.path.replace("{person_id}", "K01")
        for method in route.methods - {"HEAD"}:
            reply = client.request(method, path, data={"outcome": "declined", "program": "cares"},
                                   follow_redirects=False)
            if method == "GET":
                assert (reply.status_code, reply.headers["location"]) == (303, "/login"), path
            else:
                assert reply.status_code in (401, 403), (method, path)
    assert (count(engine, db.attempts), count(engine, db.assignments)) == before
    assert client.get("/static/htmx.min.js").status_code == 200


def test_a_post_without_the_csrf_token_is_refused_and_writes_nothing(app, engine):
    client = logged_in(app, "sam", PASSWORD)
    before = count(engine, db.attempts)
    form = {"outcome": "declined", "program": "acute_event", "attempt_date": date.today().isoformat()}
    assert client.post("/members/K03/outreach", data=form).status_code == 403
    assert client.post("/members/K03/outreach", data={**form, "csrf_token": "forged"}).status_code == 403
    assert client.post("/members/K03/outreach", data=form, headers={"X-CSRF-Token": "forged"}).status_code == 403
    assert count(engine, db.attempts) == before
    page = client.get("/members/K03")
    good = client.post("/members/K03/outreach", data={**form, "csrf_token": token(page.text)}, follow_redirects=False)
    assert good.status_code == 303 and count(engine, db.attempts) == before + 1  # the same form with the token is taken


def test_an_analyst_never_receives_contact_details(app, published):
    client = logged_in(app, "ana", PASSWORD)
    child = on_list(published, "all")[0]
    pages = {"list": client.get("/lists"), "member": client.get(f"/members/{child}"),
             "csv": client.get("/export.csv")}
    for name, reply in pages.items():
        assert reply.status_code == 200, name
        assert PHONE not in reply.text and "Smith" not in reply.text and "1 Main St" not in reply.text, name
    assert child in pages["list"].text  # the rows are there, without contacts
    xlsx = client.get("/export.xlsx")
    strings = zipfile.ZipFile(io.BytesIO(xlsx.content)).read("xl/sharedStrings.xml").decode()
    assert PHONE not in strings and "Smith" not in strings and "MK01" in strings
    assert client.post(f"/members/{child}/outreach", data={"outcome": "declined", "program": "acute_event",
                                                           "csrf_token": token(pages["member"].text)}).status_code == 403
    supervisor = logged_in(app, "sam", PASSWORD)
    assert PHONE in supervisor.get("/lists").text and PHONE in supervisor.get("/export.csv").text


def test_an_outreach_worker_sees_only_their_programmes(app, published, engine):
    client = logged_in(app, "olive", PASSWORD)
    mine = set(on_list(published, "stronger_together"))
    others = [p for p in on_list(published, "acute_event") if p not in mine]
    assert mine and others
    assert client.get(f"/members/{others[0]}").status_code == 404
    assert client.get(f"/members/{sorted(mine)[0]}").status_code == 200
    for tab in ("all", "cares", "acute_event"):
        page = client.get(f"/lists?tab={tab}").text
        assert not any(f"/members/{p}\"" in page for p in others), tab
    exported = list(csv.DictReader(io.StringIO(client.get("/export.csv?tab=all").content.decode("utf-8-sig"))))
    assert {row["person_id"] for row in exported} == mine
    assert client.get("/aggregates").status_code == 403 and client.get("/report").status_code == 403
    page = client.get(f"/members/{sorted(mine)[0]}")
    reassign = client.post(f"/members/{sorted(mine)[0]}/assign",
                           data={"assigned_to": "olive", "program": "stronger_together", "csrf_token": token(page.text)})
    assert reassign.status_code == 403
    exports = [r for r in accounts.access_rows(engine) if r["action"] == "export" and r["username"] == "olive"]
    assert exports[-1]["detail"] == f"csv tab=all rows={len(mine)}"


def test_a_locked_account_cannot_log_in_with_the_right_password(app, engine, settings):
    accounts.add_user(engine, "lola", PASSWORD, "supervisor")
    client = TestClient(app)
    for _ in range(settings.app.max_failed_logins):
        reply = client.post("/login", data={"username": "lola", "password": "wrong password!",
                                            "csrf_token": token(client.get("/login").text)})
        assert reply.status_code == 401
    reply = client.post("/login", data={"username": "lola", "password": PASSWORD,
                                        "csrf_token": token(client.get("/login").text)}, follow_redirects=False)
    assert reply.status_code == 401 and "the username or password is wrong" in reply.text
    assert "lola" not in reply.headers.get("set-cookie", "") and client.get("/lists", follow_redirects=False).status_code == 303
    # a password typed into the name box is not written to the access log
    client.post("/login", data={"username": "Tr0ub4dor&3", "password": "x" * 12, "csrf_token": token(client.get("/login").text)})
    refused = [r["username"] for r in accounts.access_rows(engine) if r["action"] == "login_refused"]
    assert refused[-1] == "(no such account)" and "lola" in refused and not any("tr0ub" in u for u in refused)


def test_a_disabled_account_is_logged_out_at_its_next_request(app, engine):
    accounts.add_user(engine, "dora", PASSWORD, "supervisor")
    client = logged_in(app, "dora", PASSWORD)
    assert client.get("/lists").status_code == 200
    accounts.set_disabled(engine, "dora")
    assert client.get("/lists", follow_redirects=False).headers["location"] == "/login"


def test_names_and_notes_are_shown_as_text(app, published, engine):
    client = logged_in(app, "sam", PASSWORD)
    page = client.get("/lists").text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and SCRIPT_NAME not in page
    member = client.get("/members/K01")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in member.text and SCRIPT_NAME not in member.text
    note = '<img src=x onerror="alert(2)"> call back after 5'
    reply = client.post("/members/K01/outreach", headers={"HX-Request": "true", "X-CSRF-Token": token(member.text)},
                        data={"outcome": "attempted", "program": "acute_event", "note": note})
    assert reply.status_code == 200 and "&lt;img src=x" in reply.text and "<img src=x" not in reply.text
    assert "<img src=x" not in client.get("/members/K01").text
    logged = [r for r in accounts.access_rows(engine, "K01") if r["action"] == "record_outcome"]
    assert logged and all("img" not in (r["detail"] or "") for r in logged)  # the note never reaches the access log


def test_session_cookie_is_httponly_and_samesite_strict_and_pages_carry_security_headers(app):
    client = TestClient(app)
    form = client.get("/login")
    cookie = form.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie
    reply = client.post("/login", data={"username": "sam", "password": PASSWORD, "csrf_token": token(form.text)},
                        follow_redirects=False)
    assert "httponly" in reply.headers["set-cookie"].lower() and "samesite=strict" in reply.headers["set-cookie"].lower()
    page = client.get("/lists")
    assert page.headers["content-security-policy"].startswith("default-src 'self'")
    assert "'unsafe-inline'" not in page.headers["content-security-policy"]
    assert page.headers["x-frame-options"] == "DENY" and page.headers["referrer-policy"] == "no-referrer"
    assert page.headers["cache-control"] == "no-store"


def forged_session(workspace, **session) -> str:
    """A session cookie signed with the workspace's key, as SessionMiddleware signs it."""
    data = base64.b64encode(json.dumps(session).encode())
    return TimestampSigner(session_secret(workspace)).sign(data).decode()


def test_an_idle_session_must_log_in_again(app, published, settings):
    idle = settings.app.idle_timeout_minutes * 60
    session = {"user": "sam", "sid": "s1", "csrf_token": "t"}
    fresh = TestClient(app, cookies={SESSION_COOKIE: forged_session(published, **session, seen=time.time() - 5)})
    assert fresh.get("/lists", follow_redirects=False).status_code == 200
    stale = TestClient(app, cookies={SESSION_COOKIE: forged_session(published, **session, seen=time.time() - idle - 5)})
    assert stale.get("/lists", follow_redirects=False).headers["location"] == "/login"
    assert stale.get("/lists", follow_redirects=False).headers["location"] == "/login"  # and stays logged out


def test_a_logged_out_cookie_replayed_is_refused(app):
    client = logged_in(app, "sam", PASSWORD)
    kept = client.cookies[SESSION_COOKIE]
    client.post("/logout", data={"csrf_token": token(client.get("/lists").text)})
    replay = TestClient(app, cookies={SESSION_COOKIE: kept})
    assert replay.get("/lists", follow_redirects=False).status_code == 303


def test_an_attempt_in_the_future_or_for_another_programme_is_refused(app, engine):
    client = logged_in(app, "sam", PASSWORD)
    page = client.get("/members/K02")
    before = len(attempts_of(engine, "K02"))
    tomorrow = (date.today() + timedelta(days=1)).isoformat()
    for form in ({"outcome": "declined", "program": "stronger_together", "attempt_date": tomorrow},
                 {"outcome": "declined", "program": "no_such_programme"},
                 {"outcome": "maybe", "program": "stronger_together"},
                 {"outcome": "declined", "program": "stronger_together", "note": "x" * 2001}):
        reply = client.post("/members/K02/outreach", data={**form, "csrf_token": token(page.text)})
        assert reply.status_code == 400, form
    assert len(attempts_of(engine, "K02")) == before


def test_a_supervisor_reassigns_a_child(app, published, engine):
    client = logged_in(app, "sam", PASSWORD)
    child = on_list(published, "stronger_together")[0]
    page = client.get(f"/members/{child}")
    reply = client.post(f"/members/{child}/assign", data={"assigned_to": "olive", "program": "stronger_together",
                                                          "csrf_token": token(page.text)}, follow_redirects=False)
    assert reply.status_code == 303
    assert "olive (by sam" in client.get(f"/members/{child}").text
    assert [r["detail"] for r in accounts.access_rows(engine, child) if r["action"] == "reassign"] == \
        ["stronger_together to olive"]
    refused = client.post(f"/members/{child}/assign", data={"assigned_to": "ana", "program": "stronger_together",
                                                            "csrf_token": token(page.text)})
    assert refused.status_code == 400  # an analyst is not an outreach worker
    cares_only = accounts.add_user(engine, "carla", PASSWORD, "outreach", ["cares"]).username
    refused = client.post(f"/members/{child}/assign", data={"assigned_to": cares_only, "program": "stronger_together",
                                                            "csrf_token": token(page.text)})
    assert refused.status_code == 400  # she could not open the child through Stronger Together


def test_list_filters_and_aggregates(app, published):
    client = logged_in(app, "sam", PASSWORD)
    cares = on_list(published, "cares")
    page = client.get("/lists?tab=cares").text
    assert all(f"/members/{p}\"" in page for p in cares)
    fragment = client.get("/lists?tab=all&age=18-20", headers={"HX-Request": "true"})
    assert fragment.text.lstrip().startswith('<div id="table">') and "No child matches" in fragment.text
    by_age = client.get("/lists?tab=all&sort=age").text
    ages = [int(a) for a in re.findall(r'<td class="n">(\d+)</td><td>', by_age)]
    assert ages == sorted(ages) and ages
    counts = client.get("/aggregates").text
    assert "CARES" in counts and "Smith" not in counts and PHONE not in counts


def test_the_report_is_served_sandboxed(app):
    reply = logged_in(app, "ana", PASSWORD).get("/report")
    assert reply.status_code == 200 and "Monthly scoring" in reply.text
    assert reply.headers["content-security-policy"].startswith("sandbox")


def test_a_second_app_on_the_same_workspace_keeps_the_secret(published, settings):
    first = session_secret(published)
    create_app(published, settings)
    path = published / "outreach" / "app_secret"
    assert session_secret(published) == first and path.stat().st_mode & 0o777 == 0o600


def test_a_mistaken_outcome_is_corrected_by_a_new_row(published, tmp_path):
    """A mis-clicked "declined" would keep a child off next month's list: the member page corrects
    it with a new row naming the mistaken one, which then no longer counts; both stay in the log."""
    workspace = Path(shutil.copytree(published, tmp_path / "ws"))
    settings = load_settings(workspace)
    app, engine = create_app(workspace, settings), open_database(workspace, settings)
    client = logged_in(app, "sam", PASSWORD)
    child = on_list(workspace, "stronger_together")[0]
    earlier = len(attempts_of(engine, child))  # the copied log may hold other tests' rows for this child
    page = client.get(f"/members/{child}")
    form = {"program": "stronger_together", "attempt_date": "2025-06-20", "csrf_token": token(page.text)}
    assert client.post(f"/members/{child}/outreach", data={**form, "outcome": "declined"}).status_code == 200
    wrong = attempts_of(engine, child)[-1]["id"]
    counted_before = effective_attempts(engine)
    page = client.get(f"/members/{child}")
    assert f'<option value="{wrong}">2025-06-20 declined, Stronger Together</option>' in page.text
    reply = client.post(f"/members/{child}/outreach", data={**form, "outcome": "reached", "corrects": str(wrong)})
    assert reply.status_code == 200
    rows = attempts_of(engine, child)[earlier:]
    assert [(r["outcome"], r["corrects"]) for r in rows] == [("declined", None), ("reached", wrong)]
    counted = effective_attempts(engine)
    assert wrong in set(counted_before["id"]) and wrong not in set(counted["id"])
    assert counted.loc[counted["id"] == rows[-1]["id"], "outcome"].tolist() == ["reached"]
    page = client.get(f"/members/{child}")
    assert "corrected</span>" in page.text and f'<option value="{wrong}">' not in page.text  # corrected once
    refused = client.post(f"/members/{child}/outreach", data={**form, "outcome": "reached", "corrects": "999999"})
    assert refused.status_code == 400 and len(attempts_of(engine, child)) == earlier + 2


def test_each_role_sees_only_what_it_needs_of_a_child_on_several_lists(published, tmp_path):
    """An outreach worker sees a child through their own programme only (no other list's rank,
    reasons, scores or notes); an analyst sees no notes, city or ZIP."""
    workspace = Path(shutil.copytree(published, tmp_path / "ws"))
    settings = load_settings(workspace)
    app = create_app(workspace, settings)
    shared = [p for p in on_list(workspace, "stronger_together") if p in set(on_list(workspace, "acute_event"))]
    assert shared, "a child on Stronger Together and the general list"
    child = shared[0]
    supervisor = logged_in(app, "sam", PASSWORD)
    page = supervisor.get(f"/members/{child}")
    supervisor.post(f"/members/{child}/outreach", data={
        "program": "acute_event", "outcome": "reached", "attempt_date": "2025-06-21",
        "note": "general-list note for the general team", "csrf_token": token(page.text)})
    assert "general-list note" in supervisor.get(f"/members/{child}").text

    olive = logged_in(app, "olive", PASSWORD).get(f"/members/{child}").text
    assert "general-list note" not in olive and "All children (acute risk) —" not in olive
    assert "Stronger Together —" in olive
    # the history the page swaps in after she saves is hers too
    worker = logged_in(app, "olive", PASSWORD)
    saved = worker.post(f"/members/{child}/outreach", headers={"HX-Request": "true"}, data={
        "program": "stronger_together", "outcome": "attempted", "attempt_date": "2025-06-22",
        "csrf_token": token(worker.get(f"/members/{child}").text)})
    assert saved.status_code == 200 and "2025-06-22" in saved.text and "general-list note" not in saved.text
    rows = list(csv.DictReader(io.StringIO(logged_in(app, "olive", PASSWORD).get("/export.csv").text.lstrip("\ufeff"))))
    assert rows and {r["lists"] for r in rows} == {"Stronger Together"}

    analyst = logged_in(app, "ana", PASSWORD)
    member = analyst.get(f"/members/{child}").text
    assert "general-list note" not in member and "62701" not in member
    listing = analyst.get("/lists?place=62701").text
    assert "62701" not in listing and "City or ZIP" not in listing
    exported = analyst.get("/export.csv").text
    assert "62701" not in exported and "Springfield" not in exported


def test_before_any_month_is_published_the_page_says_so_without_the_servers_folders(tmp_path, settings):
    workspace = tmp_path / "new-plan"
    workspace.mkdir()
    app = create_app(workspace, settings)
    accounts.add_user(open_database(workspace, settings), "sam", PASSWORD, "supervisor")
    reply = logged_in(app, "sam", PASSWORD).get("/lists")
    assert reply.status_code == 503 and "no month is published yet" in reply.text
    assert str(tmp_path) not in reply.text
