"""The web worklist: FastAPI routes over the latest published month and the outreach database.

:func:`create_app` builds the application for a workspace; :func:`serve` runs it with uvicorn
(``riskstrat app``). Login, idle timeout, CSRF and headers are :class:`~riskstrat.app.security.Guard`'s;
the routes decide what a role may see. Nothing is logged about a request: URLs carry person ids,
so uvicorn's access log is off, and the access log in the database records who saw what.
"""

from __future__ import annotations

import math
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from urllib.parse import urlencode

import jinja2
import pandas as pd
import uvicorn
from fastapi import FastAPI, Form, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from markupsafe import escape
from starlette.middleware.sessions import SessionMiddleware

from riskstrat.app import lists
from riskstrat.app.charts import reason_bars, score_charts
from riskstrat.app.month import ALL, CONTACT_COLUMNS, NoPublishedMonth, explanations, latest_month, score_history
from riskstrat.app.security import EndedSessions, Guard, csrf_token, session_secret, start_session
from riskstrat.config import Settings
from riskstrat.outreach import db
from riskstrat.outreach.accounts import LoginRefused, User, authenticate, list_users, log_access
from riskstrat.outreach.log import (
    NOTE_MAX_CHARS,
    OUTCOMES,
    OutreachError,
    assign_child,
    current_assignments,
    history,
    record_attempt,
)
from riskstrat.publish.worklist_files import ALL_LISTS, write_worklist_csv, write_worklist_xlsx

SESSION_COOKIE = "riskstrat_session"
#: The cookie outlives an idle session by far; the idle timeout is enforced on the server.
COOKIE_MAX_AGE = 12 * 3600


def _templates() -> Jinja2Templates:
    env = jinja2.Environment(loader=jinja2.PackageLoader("riskstrat.app", "templates"), autoescape=True,
                             undefined=jinja2.StrictUndefined)
    env.filters["blank"] = _blank
    return Jinja2Templates(env=env)


def _blank(value):
    """A missing value (None, NaN, pandas' NA) as an empty cell."""
    return "" if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)) else value


def _user(request: Request) -> User:
    return request.state.user


def _require(allowed: bool) -> None:
    if not allowed:
        raise HTTPException(403, "not for your role")


def _htmx(request: Request) -> bool:
    return "hx-request" in request.headers and "hx-history-restore-request" not in request.headers


def create_app(workspace: Path, settings: Settings) -> FastAPI:
    """The web worklist for ``workspace``: its latest published month and its outreach database."""
    workspace = Path(workspace)
    engine = db.open_database(workspace, settings)
    templates = _templates()
    app = FastAPI(title="riskstrat worklist", docs_url=None, redoc_url=None, openapi_url=None)
    ended = EndedSessions(settings.app)

    def page(request: Request, name: str, status: int = 200, **context) -> HTMLResponse:
        user = getattr(request.state, "user", None)
        return templates.TemplateResponse(request, name, {"user": user, "csrf": csrf_token(request.session),
                                                          **context}, status_code=status)

    def month():
        try:
            return latest_month(workspace)
        except NoPublishedMonth:
            # the page names no folder of the server: outreach staff read it, and it is not theirs to fix
            raise HTTPException(503, "no month is published yet: the worklist appears once the monthly scoring has run") from None

    @app.exception_handler(HTTPException)
    def refused(request: Request, exc: HTTPException):
        if _htmx(request):
            return HTMLResponse(f'<p class="error" role="alert">{escape(exc.detail)}</p>', exc.status_code)
        return page(request, "error.html", exc.status_code, message=exc.detail)

    @app.get("/login")
    def login_form(request: Request):
        return page(request, "login.html", error=None)

    @app.post("/login")
    def login(request: Request, username: str = Form(""), password: str = Form("")):
        username = username.strip().lower()[:64]
        try:
            user = authenticate(engine, username, password, settings.app)
        except LoginRefused as exc:
            if username:
                # Only a name that is an account goes into the log: what was typed into the name box
                # may be a password typed in the wrong one.
                known = any(u.username == username for u in list_users(engine))
                log_access(engine, username if known else "(no such account)", "login_refused")
            return page(request, "login.html", 401, error=str(exc))
        start_session(request.session, user)
        log_access(engine, user.username, "login")
        return RedirectResponse("/lists", 303)

    @app.post("/logout")
    def logout(request: Request):
        log_access(engine, _user(request).username, "logout")
        ended.end(request.session)
        return RedirectResponse("/login", 303)

    @app.get("/")
    def home():
        return RedirectResponse("/lists", 303)

    @app.get("/lists")
    def list_page(request: Request):
        user, current = _user(request), month()
        filters = lists.Filters.from_query(request.query_params, user, current)
        frame = lists.rows(current, engine, user, filters)
        context = dict(month=current, filters=filters, tabs=lists.tabs(user, current),
                       frame=frame, records=frame.to_dict("records"), query=urlencode(filters.query()),
                       tiers=[t for t in lists.TIER_ORDER if t in set(current.worklists["score_band"])],
                       statuses=lists.STATUSES, outcomes=OUTCOMES, age_bands=list(lists.AGE_BANDS),
                       sorts=[s for s in lists.SORTS if user.sees_contacts or s not in lists.CONTACT_SORTS])
        return page(request, "_table.html" if _htmx(request) else "lists.html", **context)

    def export(request: Request, kind: str) -> Response:
        user, current = _user(request), month()
        filters = lists.Filters.from_query(request.query_params, user, current)
        frame = lists.export_frame(lists.rows(current, engine, user, filters))
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / f"worklist.{kind}"
            if kind == "csv":
                write_worklist_csv(frame, path)
            else:
                write_worklist_xlsx([(current.titles.get(filters.tab, ALL_LISTS), frame)], path, current.as_of)
            content = path.read_bytes()
        log_access(engine, user.username, "export", detail=f"{kind} tab={filters.tab} rows={len(frame)}")
        media = "text/csv" if kind == "csv" else "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        name = f"worklist-{current.as_of}-{filters.tab}.{kind}"
        return Response(content, media_type=media, headers={"Content-Disposition": f'attachment; filename="{name}"'})

    @app.get("/export.csv")
    def export_csv(request: Request):
        return export(request, "csv")

    @app.get("/export.xlsx")
    def export_xlsx(request: Request):
        return export(request, "xlsx")

    def attempts_seen_by(user, person_id: str) -> list:
        """The child's outreach history in the programmes ``user`` works: other teams' notes stay theirs."""
        return [a for a in history(engine, person_id) if user.may_see_program(a.program)]

    def member_context(request: Request, person_id: str) -> dict:
        """What the member page shows; 404 for a child the user may not see (whether or not it exists)."""
        user, current = _user(request), month()
        on_lists = current.lists_of(person_id)
        if not lists.may_see_member(user, current, person_id) or not on_lists:
            raise HTTPException(404, "no such child on this month's lists for you")
        rows = current.worklists[current.worklists["person_id"] == person_id]
        # An outreach worker sees the child only through their own programmes' lists: ranks, reasons,
        # scores and outreach notes of other programmes stay with those programmes' teams.
        mine = [p for p in on_lists if user.may_see_program(p)]
        combined = rows[rows["worklist"] == ALL] if user.all_programs else rows.iloc[0:0]
        row = (combined if len(combined) else rows[rows["worklist"].isin(mine)]).iloc[0].to_dict()
        if not user.all_programs:
            row["lists"] = " + ".join(current.titles[p] for p in mine)
        household = row["household_id"]
        siblings = current.rows(ALL)
        siblings = siblings[(siblings["household_id"] == household) & (siblings["person_id"] != person_id)] \
            if household else siblings.iloc[0:0]
        if not user.all_programs:
            siblings = siblings[siblings["person_id"].isin(lists.visible_people(user, current))]
        per_list = {name: rows[rows["worklist"] == name].iloc[0].to_dict() for name in mine}
        reasons = {name: r for name, r in explanations(current, person_id).items() if name in mine}
        scores = score_history(workspace, person_id)
        attempts = attempts_seen_by(user, person_id)
        corrected = {a.corrects for a in attempts if a.corrects is not None}
        return dict(
            month=current, person_id=person_id, row=row, per_list=per_list,
            contacts={k: row[k] for k in CONTACT_COLUMNS} if user.sees_contacts else None,
            siblings=siblings.to_dict("records"),
            charts=score_charts(scores[scores["list"].isin(mine)], current.titles),
            bars={name: reason_bars(rs) for name, rs in reasons.items()},
            attempts=attempts, corrected=corrected, outcomes=OUTCOMES, note_max=NOTE_MAX_CHARS,
            programs=mine,
            assignments=current_assignments(engine, person_id), today=date.today().isoformat(),
            assignable=[u.username for u in list_users(engine) if u.role == "outreach" and not u.disabled
                        and any(u.may_see_program(p) for p in mine)],
            error=None)

    @app.get("/members/{person_id}")
    def member(request: Request, person_id: str):
        context = member_context(request, person_id)
        log_access(engine, _user(request).username, "view_member", person_id=person_id)
        return page(request, "member.html", **context)

    @app.post("/members/{person_id}/outreach")
    def record(request: Request, person_id: str, outcome: str = Form(""), program: str = Form(""),
               attempt_date: str = Form(""), note: str = Form(""), corrects: str = Form("")):
        user = _user(request)
        _require(user.records_outcomes)
        context = member_context(request, person_id)
        error = None
        try:
            if program not in context["programs"]:
                raise OutreachError("choose one of the child's programmes you work")
            try:
                when = date.fromisoformat(attempt_date) if attempt_date else date.today()
            except ValueError:
                raise OutreachError("the date must be YYYY-MM-DD") from None
            # A mistaken entry is never changed: the correction is a new row naming it (append-only log).
            corrected = next((a for a in context["attempts"] if str(a.id) == corrects), None) if corrects else None
            if corrects and (corrected is None or corrected.program not in context["programs"]
                             or corrected.id in context["corrected"]):
                raise OutreachError("the entry to correct is not one of this child's uncorrected entries, "
                                    "in a programme you work")
            record_attempt(engine, person_id=person_id, program=program, outcome=outcome, attempt_date=when,
                           recorded_by=user.username, note=note, corrects=corrected and corrected.id)
        except OutreachError as exc:
            error = str(exc)
        else:
            log_access(engine, user.username, "record_outcome", person_id=person_id,
                       detail=f"{program} {outcome}" + (f" correcting {corrects}" if corrects else ""))
        if not _htmx(request):
            if error:
                return page(request, "member.html", 400, **{**context, "error": error})
            return RedirectResponse(f"/members/{person_id}", 303)
        context.update(attempts=attempts_seen_by(user, person_id), error=error)
        context["corrected"] = {a.corrects for a in context["attempts"] if a.corrects is not None}
        return page(request, "_history.html", **context)

    @app.post("/members/{person_id}/assign")
    def assign(request: Request, person_id: str, assigned_to: str = Form(""), program: str = Form("")):
        user = _user(request)
        _require(user.role == "supervisor")
        context = member_context(request, person_id)
        worker = next((u for u in list_users(engine) if u.username == assigned_to), None)
        if (program not in context["programs"] or worker is None or worker.role != "outreach" or worker.disabled
                or not worker.may_see_program(program)):
            raise HTTPException(400, "choose an active outreach worker of one of the child's programmes")
        assign_child(engine, person_id=person_id, program=program, assigned_to=assigned_to, assigned_by=user.username)
        log_access(engine, user.username, "reassign", person_id=person_id, detail=f"{program} to {assigned_to}")
        return RedirectResponse(f"/members/{person_id}", 303)

    @app.get("/aggregates")
    def aggregate_page(request: Request):
        _require(_user(request).role in ("analyst", "supervisor"))
        current = month()
        return page(request, "aggregates.html", month=current,
                    counts=lists.aggregates(current, engine).to_dict("records"), outcomes=OUTCOMES)

    @app.get("/report")
    def report(request: Request):
        _require(_user(request).role in ("analyst", "supervisor"))
        return FileResponse(month().folder / "report.html", media_type="text/html")

    app.mount("/static", StaticFiles(packages=[("riskstrat.app", "static")]), name="static")
    # Starlette wraps the last middleware added outermost: the session must be read before the guard runs.
    app.add_middleware(Guard, engine=engine, ended=ended)
    app.add_middleware(SessionMiddleware, secret_key=session_secret(workspace), session_cookie=SESSION_COOKIE,
                       max_age=COOKIE_MAX_AGE, same_site="strict", https_only=False)
    return app


def _server(workspace: Path, settings: Settings, host: str, port: int) -> uvicorn.Server:
    # No access log: its lines would carry the person ids in member URLs.
    return uvicorn.Server(uvicorn.Config(create_app(workspace, settings), host=host, port=port, access_log=False,
                                         server_header=False, log_level="warning"))


def serve(workspace: Path, settings: Settings, host: str | None = None, port: int | None = None) -> None:
    """Run the web worklist until interrupted (``riskstrat app``); ``host``/``port`` default to ``[app]``."""
    _server(workspace, settings, host or settings.app.host, port or settings.app.port).run()


@contextmanager
def serving(workspace: Path, settings: Settings, host: str = "127.0.0.1") -> Iterator[str]:
    """The web worklist served in a background thread on a free port while the block runs; yields its
    base URL. For a notebook, the browser tests and the benchmark, which drive it from the same process."""
    with socket.socket() as probe:
        probe.bind((host, 0))
        port = probe.getsockname()[1]
    server = _server(workspace, settings, host, port)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the web worklist did not start")
        time.sleep(0.02)
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
