"""Fixtures shared by every stage's tests."""

import pytest

# The smallest design the stages accept: a 12-month look-back (the longest feature window), a
# 3-month outcome, 2 training months and one each to tune, calibrate and test, with larger held-out
# shares so each side has events; a 21-month plan can then train as of its 19th month.
SMALLEST_DESIGN = """
[model]
lookback_months = 12
horizon_months = 3
runout_months = 0
train_months = 2
min_train_months = 2
tune_months = 1
calibration_months = 1
test_months = 1
tune_share = 0.2
calibration_share = 0.2
test_share = 0.3
max_trees = 60
min_child_samples = 20

[scoring]
capacity = 25
"""


@pytest.fixture(scope="session")
def smallest_design() -> str:
    """riskstrat.toml for a plan of about 21 months that trains, scores and runs the monthly job quickly."""
    return SMALLEST_DESIGN
