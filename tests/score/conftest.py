"""Fixtures: a real LightGBM model for every shipped specification, trained and registered on a
synthetic frame of the declared features, and a tiny lake (eligibility, care management, ED
visits) for one scoring month."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from scorekit import AS_OF, build_workspace, training_frame  # noqa: E402

from riskstrat.config import ModelSettings, Settings  # noqa: E402
from riskstrat.features import FEATURES  # noqa: E402
from riskstrat.model.design import StudyDesign  # noqa: E402

TRAIN_AS_OF = AS_OF


@pytest.fixture(scope="session")
def model_workspace(tmp_path_factory) -> Path:
    """A workspace whose registry holds a champion for each shipped list (the general list, CARES
    and Stronger Together), each trained on its design's as-of months of 1,000 children."""
    from riskstrat.model.registry import champions, load_model
    from riskstrat.model.specs import load_specs
    from riskstrat.model.train import fit_and_register

    # Few, shallow trees: the tests need real boosters and calibrators, not good models.
    settings = Settings(model=ModelSettings(max_trees=60, num_leaves=7, min_child_samples=40, train_months=4))
    workspace = tmp_path_factory.mktemp("registry")
    for seed, spec in enumerate(load_specs(None, settings), start=1):
        own = settings.for_spec(spec.spec)
        design = StudyDesign.from_settings(TRAIN_AS_OF, own.model, spec=spec.name)
        frame = training_frame(1000, list(design.fit_months), seed=seed)
        fit_and_register(workspace, frame, FEATURES, design, own, promote=True, population=spec.population)
    for spec, model_id in champions(workspace).items():
        load_model(workspace, model_id, spec=spec)  # fails here, not in every test, if the registry cannot read it back
    return workspace


@pytest.fixture(scope="session")
def model(model_workspace):
    """The general list's champion."""
    from riskstrat.model.registry import load_model

    return load_model(model_workspace)


@pytest.fixture()
def workspace(tmp_path, model_workspace) -> Path:
    return build_workspace(tmp_path / "ws", model_workspace)
