"""Shared fixtures: the hand-written two-month plan in tests/data/plan, ingested once per session."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # tests import ingest_helpers and defect_rules from here

from ingest_helpers import copy_plan  # noqa: E402

from riskstrat.config import IngestSettings  # noqa: E402
from riskstrat.ingest import ingest_workspace  # noqa: E402


@pytest.fixture(scope="session")
def clean_plan(tmp_path_factory):
    """The clean fixture plan, both months ingested: (workspace, report)."""
    ws = copy_plan(tmp_path_factory.mktemp("clean"))
    # Ingested as an analyst runs it, `--workspace demo`: a path relative to the current folder
    # (Great Expectations' Data Docs refused relative paths once).
    cwd = os.getcwd()
    os.chdir(ws.parent)
    try:
        report = ingest_workspace(Path(ws.name), settings=IngestSettings())
    finally:
        os.chdir(cwd)
    return ws, report


@pytest.fixture
def lenient() -> IngestSettings:
    """Settings that never refuse a tiny fixture for its share of bad rows."""
    return IngestSettings(max_bad_row_share=1.0)
