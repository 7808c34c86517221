"""One run per month at a time: ``W/.riskstrat/monthly/YYYY-MM.lock``.

The lock file is created with ``O_CREAT|O_EXCL``, which the file system makes atomic, and holds
who took it; a crashed run's successor can break it (see :class:`MonthLock`).
"""

from __future__ import annotations

import json
import os
import socket
import time
from datetime import datetime, timezone
from pathlib import Path

from riskstrat.jobs.errors import MonthBusy
from riskstrat.jobs.steps import state_dir


def _process_start(pid: int) -> str | None:
    """The kernel's start time of ``pid`` (Linux), so a recycled pid is not mistaken for the holder."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # the command name may contain spaces and parentheses; fields restart after the last ')'
    return stat.rsplit(")", 1)[1].split()[19]


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class MonthLock:
    """``W/.riskstrat/monthly/YYYY-MM.lock``: while it exists, one run owns the month.

    The lock file is created with ``O_CREAT|O_EXCL``, which the file system makes atomic, and
    holds who took it. A lock is stale when its holder is gone: same host and that process no
    longer runs (or its pid was recycled), or another host and older than ``stale_after``
    seconds (a process elsewhere cannot be asked). A stale lock is broken under a second,
    short-lived ``.break`` lock, so two successors cannot both break it and both win.
    """

    def __init__(self, workspace: Path | str, month: str, owner: str = "", stale_after: float = 24 * 3600):
        self.path = state_dir(workspace) / f"{month}.lock"
        self.month = month
        self.owner = owner
        self.stale_after = stale_after
        self.token: str | None = None

    # -- holder information
    def holder(self) -> dict | None:
        """What the lock file says about its holder, or None when unlocked (``{}`` when unreadable)."""
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return None
        try:
            data = json.loads(raw)
            return data if isinstance(data, dict) else {}
        except (json.JSONDecodeError, UnicodeDecodeError):
            return {}

    def _is_stale(self, info: dict, mtime: float) -> bool:
        age = time.time() - mtime
        if not info:
            # written but not yet filled in, or its writer died mid-write: give a live writer time
            return age > 60
        if info.get("host") == socket.gethostname():
            pid = int(info.get("pid", -1))
            if pid <= 0 or not _pid_alive(pid):
                return True
            started = info.get("process_start")
            return started is not None and _process_start(pid) not in (None, started)
        return age > self.stale_after

    def _describe(self, info: dict) -> str:
        if not info:
            return f"{self.month} is locked by {self.path} (being written)"
        who = f"pid {info.get('pid')} on {info.get('host')}"
        if info.get("owner"):
            who += f", {info['owner']}"
        return (f"another run of {self.month} is in progress ({who}, since {info.get('started_at')}); "
                f"wait for it, or delete {self.path} if no such run exists")

    # -- taking and giving back
    def _create(self) -> bool:
        token = os.urandom(8).hex()
        info = {"token": token, "pid": os.getpid(), "host": socket.gethostname(), "month": self.month,
                "owner": self.owner, "process_start": _process_start(os.getpid()),
                "started_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
        try:
            fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(json.dumps(info))
            fh.flush()
            os.fsync(fh.fileno())
        self.token = token
        return True

    def _break_if_stale(self) -> bool:
        """Remove the lock if it is (still) stale; True when it was removed or is already gone."""
        try:
            raw, mtime = self.path.read_bytes(), self.path.stat().st_mtime
        except FileNotFoundError:
            return True
        info = self.holder() or {}
        if not self._is_stale(info, mtime):
            return False
        breaker = self.path.with_name(self.path.name + ".break")
        try:
            fd = os.open(breaker, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            # a breaker that died between its two steps must not block the month for ever
            try:
                if time.time() - breaker.stat().st_mtime > 30:
                    breaker.unlink(missing_ok=True)
            except FileNotFoundError:
                pass
            return False
        os.close(fd)
        try:
            # only the exact stale file judged above may go: a successor may have locked meanwhile
            try:
                if self.path.read_bytes() == raw:
                    self.path.unlink()
            except FileNotFoundError:
                pass
            return True
        finally:
            breaker.unlink(missing_ok=True)

    def acquire(self, wait: float = 0.0, poll: float = 0.5) -> "MonthLock":
        """Take the lock or raise :class:`MonthBusy` naming the holder; waits up to ``wait`` seconds."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        deadline = time.monotonic() + wait
        while True:
            if self._create():
                return self
            if self._break_if_stale() and self._create():
                return self
            if time.monotonic() >= deadline:
                raise MonthBusy(self._describe(self.holder() or {}))
            time.sleep(poll)

    def release(self) -> bool:
        """Give the lock back; False when it is no longer ours (someone judged it stale and broke it)."""
        if self.token is None:
            return False
        info = self.holder()
        self.token, token = None, self.token
        if not info or info.get("token") != token:
            return False
        self.path.unlink(missing_ok=True)
        return True

    def __enter__(self) -> "MonthLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()
