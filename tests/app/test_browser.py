"""The web worklist in a real browser (Debian's chromium via Playwright) against uvicorn."""

from __future__ import annotations

import re

import pytest
from browser import browser, log_out, login, record_outcome
from helpers import PASSWORD, attempts_of, on_list

from riskstrat.app.server import serving
from riskstrat.outreach import accounts


@pytest.fixture(scope="module")
def served(published, settings):
    with serving(published, settings) as base, browser() as chromium:
        yield base, chromium


def test_an_outreach_worker_records_a_decline(served, published, engine):
    base, chromium = served
    child = on_list(published, "stronger_together")[0]
    context = chromium.new_context()
    page = context.new_page()
    login(page, base, "olive", PASSWORD)
    page.get_by_role("link", name="Stronger Together").click()
    page.wait_for_url(re.compile(r"tab=stronger_together"))
    rows = page.locator("#table tbody tr")
    before = rows.count()
    page.locator("#filters select[name=age]").select_option("18-20")  # htmx swaps the table and pushes the URL
    page.wait_for_url(re.compile(r"age=18-20"))
    assert page.locator("#table").inner_text().count("No child matches") == 1
    page.locator("#filters select[name=age]").select_option("")
    page.locator("#table", has_text="No child matches").wait_for(state="detached")
    assert rows.count() == before
    page.locator(f'#table a[href="/members/{child}"]').click()
    page.wait_for_url(re.compile(f"/members/{child}$"))
    record_outcome(page, "2025-06-20", "declined", "stronger_together", "mother asked us to call after the summer")
    log_out(page, base)
    context.close()
    rows = [r for r in attempts_of(engine, child) if r["recorded_by"] == "olive"]
    assert [(r["program"], r["outcome"], r["attempt_date"].isoformat(), r["note"]) for r in rows] == [
        ("stronger_together", "declined", "2025-06-20", "mother asked us to call after the summer")]
    log = [(r["action"], r["person_id"]) for r in accounts.access_rows(engine) if r["username"] == "olive"]
    assert log[-4:] == [("login", None), ("view_member", child), ("record_outcome", child), ("logout", None)]


def test_two_people_record_outcomes_for_the_same_child_at_once(served, published, engine):
    base, chromium = served
    child = on_list(published, "stronger_together")[-1]
    pages = {}
    for user, outcome in (("olive", "reached"), ("sam", "attempted")):
        page = chromium.new_context().new_page()
        login(page, base, user, PASSWORD)
        page.goto(f"{base}/members/{child}")
        page.locator("#outreach select[name=outcome]").select_option(outcome)
        page.locator("#outreach select[name=program]").select_option("stronger_together")
        pages[user] = page
    for page in pages.values():  # both submitted before either answer is awaited
        page.get_by_role("button", name="Save outcome").click(no_wait_after=True)
    for user, page in pages.items():  # each answer shows at least its own row; after a reload, both
        page.locator("#outreach tbody tr", has_text=user).wait_for()
    for page in pages.values():
        page.reload()
        assert page.locator("#outreach tbody tr", has_text="reached").count() == 1
        assert page.locator("#outreach tbody tr", has_text="attempted").count() == 1
        page.context.close()
    rows = {r["recorded_by"]: r for r in attempts_of(engine, child)}
    assert (rows["olive"]["outcome"], rows["sam"]["outcome"]) == ("reached", "attempted")
    assert abs((rows["olive"]["recorded_at"] - rows["sam"]["recorded_at"]).total_seconds()) <= 1
