"""Fixtures: the general list's champion of the shared registry (``model_workspace``, tests/conftest.py)
and a tiny lake (eligibility, care management, ED visits) for one scoring month."""

from __future__ import annotations

from pathlib import Path

import pytest
from scorekit import build_workspace  # tests/conftest.py puts this folder on the path


@pytest.fixture(scope="session")
def model(model_workspace):
    """The general list's champion."""
    from riskstrat.model.registry import load_model

    return load_model(model_workspace)


@pytest.fixture()
def workspace(tmp_path, model_workspace) -> Path:
    return build_workspace(tmp_path / "ws", model_workspace)
