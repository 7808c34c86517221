"""The audit tests' shared plan: built once per session, read by every test that needs real outputs."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from auditplan import build_scored_plan  # noqa: E402


@pytest.fixture(scope="session")
def scored_plan(tmp_path_factory):
    """A 1,500-member plan, ingested, with a champion model and four scored months (two matured)."""
    return build_scored_plan(tmp_path_factory.mktemp("audit-plan"))
