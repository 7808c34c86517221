"""Who may do what in the web worklist, enforced in one place for every route.

:class:`Guard` sits inside Starlette's signed-cookie session and outside every route: a request
that is not for ``/login`` or ``/static`` needs a session whose account still exists, is enabled
and was used within ``app.idle_timeout_minutes``; anything but GET/HEAD needs the session's CSRF
token (header ``X-CSRF-Token`` from htmx, or the form field ``csrf_token``). A route therefore
cannot be added without these checks. Every response carries the security headers.
"""

from __future__ import annotations

import hmac
import os
import secrets
import threading
import time
from pathlib import Path
from urllib.parse import parse_qs

from sqlalchemy.engine import Engine
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import MutableHeaders
from starlette.responses import PlainTextResponse, RedirectResponse

from riskstrat.config import AppSettings
from riskstrat.outreach.accounts import User, get_user
from riskstrat.outreach.db import OUTREACH_DIR

SECRET_FILE = "app_secret"
OPEN_PATHS = ("/login", "/static/")
SAFE_METHODS = ("GET", "HEAD")
CSRF_FIELD, CSRF_HEADER = "csrf_token", "x-csrf-token"
#: No inline script or style, nothing from elsewhere, never framed.
CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
#: The month's report.html carries its own inline style and SVG; shown sandboxed, without script.
REPORT_CSP = "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src data:"
#: A form body larger than this is refused before it is read (a note is at most 2,000 characters).
MAX_FORM_BYTES = 64 * 1024


def session_secret(workspace: Path) -> str:
    """The key that signs session cookies: ``W/outreach/app_secret``, created (mode 0600) when missing."""
    path = Path(workspace) / OUTREACH_DIR / SECRET_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text(encoding="utf-8").strip()
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(secrets.token_hex(32))
    return path.read_text(encoding="utf-8").strip()


def csrf_token(session: dict) -> str:
    """The session's CSRF token, made on first use."""
    if CSRF_FIELD not in session:
        session[CSRF_FIELD] = secrets.token_urlsafe(32)
    return session[CSRF_FIELD]


def start_session(session: dict, user: User) -> None:
    """A fresh session for ``user`` (a new id and CSRF token: nothing carries over from before login)."""
    session.clear()
    session.update(user=user.username, sid=secrets.token_hex(16), seen=time.time())
    csrf_token(session)


class EndedSessions:
    """Sessions logged out. The cookie is signed, not stored: a copy kept from before logout would
    still verify, so its id is refused until it would have timed out anyway."""

    def __init__(self, settings: AppSettings):
        self.idle_seconds = settings.idle_timeout_minutes * 60
        self._ended: dict[str, float] = {}
        self._lock = threading.Lock()

    def end(self, session: dict) -> None:
        now = time.time()
        with self._lock:
            self._ended = {sid: at for sid, at in self._ended.items() if now - at < self.idle_seconds}
            if "sid" in session:
                self._ended[session["sid"]] = now
        session.clear()

    def __contains__(self, sid: str | None) -> bool:
        return sid in self._ended


class Guard:
    """Login, idle timeout, account re-check, CSRF and security headers for every request (ASGI)."""

    def __init__(self, app, engine: Engine, ended: EndedSessions):
        self.app = app
        self.engine = engine
        self.ended = ended

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        path, method = scope["path"], scope["method"]
        send = self._with_headers(send, path)
        session = scope["session"]
        if not path.startswith(OPEN_PATHS):
            user = await self._user(session)
            if user is None:
                return await self._refuse(scope, receive, send, 401)
            scope.setdefault("state", {})["user"] = user
        if method not in SAFE_METHODS and not path.startswith("/static/"):
            ok, receive = await self._csrf_ok(scope, receive, session)
            if not ok:
                return await PlainTextResponse("refused: the form has expired; reload the page", 403)(scope, receive, send)
        await self.app(scope, receive, send)

    async def _user(self, session: dict) -> User | None:
        username, seen, sid = session.get("user"), session.get("seen"), session.get("sid")
        if not username:
            # Not logged in: the session holds only the login form's CSRF token, which must survive
            # the browser's own requests (a favicon) between showing the form and posting it.
            return None
        if seen is None or sid in self.ended or time.time() - seen > self.ended.idle_seconds:
            session.clear()
            return None
        user = await run_in_threadpool(get_user, self.engine, username)
        if user is None or user.disabled:
            session.clear()
            return None
        session["seen"] = time.time()
        return user

    async def _csrf_ok(self, scope, receive, session: dict):
        """Whether the request carries the session's token; and a ``receive`` that replays the body read."""
        expected = session.get(CSRF_FIELD)
        headers = dict(scope["headers"])
        given = headers.get(CSRF_HEADER.encode(), b"").decode("latin-1")
        if not given and headers.get(b"content-type", b"").startswith(b"application/x-www-form-urlencoded"):
            body, receive = await _read_body(receive)
            if body is None:
                return False, receive
            given = parse_qs(body.decode("utf-8", "replace")).get(CSRF_FIELD, [""])[0]
        return bool(expected) and hmac.compare_digest(given.encode(), expected.encode()), receive

    async def _refuse(self, scope, receive, send, status: int):
        headers = dict(scope["headers"])
        if scope["method"] in SAFE_METHODS and b"hx-request" not in headers:
            response = RedirectResponse("/login", status_code=303)
        else:
            # htmx would swap a redirect's login page into the table; it follows HX-Redirect instead.
            response = PlainTextResponse("log in first", status, headers={"HX-Redirect": "/login"})
        await response(scope, receive, send)

    def _with_headers(self, send, path: str):
        async def sending(message):
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("Content-Security-Policy", REPORT_CSP if path == "/report" else CSP)
                headers["X-Frame-Options"] = "DENY"
                headers["Referrer-Policy"] = "no-referrer"
                headers["X-Content-Type-Options"] = "nosniff"
                if not path.startswith("/static/"):
                    headers["Cache-Control"] = "no-store"
            await send(message)
        return sending


async def _read_body(receive):
    """The whole request body (None when over :data:`MAX_FORM_BYTES`), and a receive that replays it."""
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        size += len(chunks[-1])
        if size > MAX_FORM_BYTES:
            return None, receive
        if not message.get("more_body", False):
            break
    body = b"".join(chunks)
    sent = False

    async def replay():
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()
    return body, replay
