"""Fixtures for the web worklist: one month scored and published for real (the score tests' registry
and tiny lake, with hostile names planted), and an account for each role in a real SQLite log."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # browser and helpers, for these tests and tests/flows

from helpers import FORMULA_NAME, PASSWORD, SCRIPT_NAME, USERS  # noqa: E402
from scorekit import AS_OF, build_workspace, lake_rows, write_lake_table  # noqa: E402

from riskstrat.app.server import create_app  # noqa: E402
from riskstrat.config import load_settings  # noqa: E402
from riskstrat.outreach import accounts  # noqa: E402
from riskstrat.outreach.db import open_database  # noqa: E402
from riskstrat.publish.month import score_month  # noqa: E402


def plant_hostile_names(workspace: Path) -> None:
    """K01 (on every list) is renamed to a script tag and a spreadsheet formula."""
    rows = lake_rows()
    for row in rows["eligibility"]:
        if row["person_id"] == "K01":
            row["first_name"], row["last_name"] = SCRIPT_NAME, FORMULA_NAME
    write_lake_table(workspace, "eligibility", AS_OF, rows["eligibility"])


def publish_workspace(root: Path, model_workspace: Path) -> Path:
    workspace = build_workspace(root, model_workspace)
    plant_hostile_names(workspace)
    score_month(workspace, AS_OF, load_settings(workspace))
    engine = open_database(workspace, load_settings(workspace))
    for name, (role, programs) in USERS.items():
        accounts.add_user(engine, name, PASSWORD, role, programs)
    return workspace


@pytest.fixture(scope="session")
def published(tmp_path_factory, model_workspace) -> Path:
    """A workspace with June 2025 published and the three accounts. Tests that write outcomes use
    their own copy (:func:`fresh`) or children no other test reads."""
    return publish_workspace(tmp_path_factory.mktemp("app") / "ws", model_workspace)


@pytest.fixture(scope="session")
def settings(published):
    return load_settings(published)


@pytest.fixture(scope="session")
def engine(published, settings):
    return open_database(published, settings)


@pytest.fixture(scope="session")
def app(published, settings):
    return create_app(published, settings)
