"""A plan with two years of deliveries trains with the default settings, testing on fewer months.

The audit plan's lake starts in 2023-10; trained as of 2025-09 (its 24th delivery) with outcomes
known through that month only, it has a full 12-month look-back from 2024-09 and outcomes
(6 months and 3 of run-out) matured through 2024-12: four as-of months, three kept to learn from.
"""

import shutil

import pytest

from riskstrat.config import Settings
from riskstrat.model import registry
from riskstrat.model.train import train_models

pytestmark = pytest.mark.slow


def test_two_years_of_deliveries_train_with_the_default_settings(scored_plan, tmp_path):
    workspace = tmp_path / "two-years"
    shutil.copytree(scored_plan / "lake", workspace / "lake")  # the shared plan's registry stays untouched
    settings = Settings()
    assert settings.model.test_months == 2 and settings.model.horizon_months == 6 and settings.model.runout_months == 3
    (result,) = train_models(workspace, "2025-09", settings, ["acute_event"])
    design = result.design
    assert design.fit_months == ("2024-09", "2024-10", "2024-11", "2024-12")
    assert design.test_months == ("2024-12",) and "1 test month(s) instead of 2" in design.note
    assert result.promoted and registry.champion_id(workspace) == result.model_id
    card = (result.model_dir / "card.md").read_text()
    assert "1 test month(s) instead of 2" in card and "cross-fitting" in card
    assert result.metrics["model"]["n"] > 0 and len(result.metrics["learning_curve"]) >= 2
