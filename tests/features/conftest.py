"""Fixtures: the hand-built plan of handbuilt_plan.py written as a lake, and its features at 2025-06."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from handbuilt_plan import AS_OF, build_plan  # noqa: E402


@pytest.fixture(scope="session")
def plan():
    return build_plan()


@pytest.fixture(scope="session")
def full_lake(plan, tmp_path_factory) -> Path:
    return plan.write(tmp_path_factory.mktemp("full"))


@pytest.fixture(scope="session")
def features(full_lake):
    from riskstrat.features import build_features

    return build_features(full_lake, AS_OF).set_index("person_id")
