"""Fixtures shared by every stage's tests."""

import pytest

# The smallest design the stages accept: a 12-month look-back (the longest feature window), a
# 3-month outcome, every matured month learned from and the last one tested; a 21-month plan can
# then train as of its 19th month.
SMALLEST_DESIGN = """
[model]
lookback_months = 12
horizon_months = 3
runout_months = 0
min_train_months = 2
test_months = 1
max_trees = 60
min_child_samples = 20
# Two folds and no learning curve: the fewest fits that still judge every child out of fold.
folds = 2
learning_curve_shares = []

[scoring]
capacity = 25
"""


@pytest.fixture(scope="session")
def smallest_design() -> str:
    """riskstrat.toml for a plan of about 21 months that trains, scores and runs the monthly job quickly."""
    return SMALLEST_DESIGN


@pytest.fixture(scope="module")
def spark():
    """A Spark session (local[2]) for a module's Spark tests, stopped after them: an idle session
    takes a tenth of a core, which the other test worker needs. The library's own
    ``engine_session`` finds this session active and uses it."""
    from riskstrat.features.spark import session

    spark = session("local[2]", {
        # few shuffle partitions: the plans are tiny, and each partition is a task on two cores
        "spark.sql.shuffle.partitions": "2", "spark.default.parallelism": "2",
        # adaptive query execution re-plans each query by its shuffle sizes: on plans this small
        # that costs more than it saves (a third of the concepts' time here)
        "spark.sql.adaptive.enabled": "false",
        # a short-lived JVM: the quick compiler only, and a garbage collector that keeps to one thread
        "spark.driver.extraJavaOptions": "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC",
    })
    yield spark
    spark.stop()
