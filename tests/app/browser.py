"""Helpers for driving the web worklist in a real browser (Debian's chromium through Playwright):
the system's chromium, and a login (the app itself runs in riskstrat.app.server.serving).

Used by tests/app and by the end-to-end test in tests/flows.
"""

from __future__ import annotations

import re
import shutil
from contextlib import contextmanager
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"


def chromium_or_skip() -> str:
    """The system chromium's path; the test is skipped (saying why) where it is not installed."""
    if not Path(CHROMIUM).is_file() and not shutil.which("chromium"):
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium): the browser tests need it")
    return CHROMIUM if Path(CHROMIUM).is_file() else shutil.which("chromium")


@contextmanager
def browser():
    """A headless chromium (the system's: Playwright's own download cannot work offline)."""
    from playwright.sync_api import sync_playwright  # a dev dependency: the skip above must run first

    path = chromium_or_skip()
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=path, args=["--no-sandbox"])
        try:
            yield chromium
        finally:
            chromium.close()


def login(page, base_url: str, username: str, password: str) -> None:
    """Log in through the login form and wait for the lists."""
    page.goto(f"{base_url}/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(r"/lists"))


def record_outcome(page, attempt_date: str, outcome: str, program: str, note: str | None = None) -> None:
    """Fill the member page's outreach form, save it, and wait for the saved row in the history."""
    page.get_by_label("Date").fill(attempt_date)
    page.locator("#outreach select[name=outcome]").select_option(outcome)
    page.locator("#outreach select[name=program]").select_option(program)
    if note is not None:
        page.get_by_label("Note").fill(note)
    page.get_by_role("button", name="Save outcome").click()
    page.locator("#outreach tbody tr", has_text=outcome).wait_for()


def log_out(page, base_url: str) -> None:
    page.get_by_role("button", name="Log out").click()
    page.wait_for_url(f"{base_url}/login")
