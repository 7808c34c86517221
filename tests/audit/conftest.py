"""The audit tests' shared plan: built once per session, read by every test that needs real outputs."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from auditplan import build_scored_plan  # noqa: E402
from once import built_once  # noqa: E402


@pytest.fixture(scope="session")
def scored_plan(tmp_path_factory, worker_id):
    """A 1,500-member plan, ingested, with a champion model and four scored months (two matured);
    built once per run, whichever worker asks first (its files run on both)."""
    return built_once(tmp_path_factory, worker_id, "audit-plan", build_scored_plan)
