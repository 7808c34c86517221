import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from synthetic_frame import DECLARATIONS, make_frame  # noqa: E402

from riskstrat.config import Settings  # noqa: E402
from riskstrat.model.design import StudyDesign  # noqa: E402
from riskstrat.model.train import fit_and_register  # noqa: E402

AS_OF = "2025-11"


@pytest.fixture(scope="session")
def plan():
    """A known-signal frame of 6,000 children over 24 as-of months, and its truth table."""
    return make_frame(children=6000, seed=3)


@pytest.fixture(scope="session")
def settings():
    return Settings()


@pytest.fixture(scope="session")
def design(settings):
    return StudyDesign.from_settings(AS_OF, settings.model, first_month="2023-06")


@pytest.fixture(scope="session")
def trained(tmp_path_factory, plan, settings, design):
    """A real LightGBM model trained, calibrated, evaluated and registered in a fresh workspace."""
    frame, truth = plan
    workspace = tmp_path_factory.mktemp("workspace")
    result = fit_and_register(workspace, frame, DECLARATIONS, design, settings, truth=truth)
    return workspace, result
