"""Fixtures shared by every stage's tests."""

import os
import sys
from pathlib import Path

import pytest

# scorekit: the score tests' tiny lake and training frames, also used by the web worklist's tests;
# once: session fixtures built once per run
sys.path.insert(0, str(Path(__file__).parent / "score"))
sys.path.insert(0, str(Path(__file__).parent))

from once import built_once  # noqa: E402

# Before any test module imports Prefect, which reads its settings once.
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
# The test API servers run flows called directly, never a deployment, a schedule, a work pool, a
# pause or an automation. The loops that look after those polled all the same: an idle server took
# 0.12 of a core, 0.05 without them, and each worker keeps one for most of the run (plus one per
# flow run from the command line). Task runs, logs, artifacts and events, which the tests read,
# are still recorded.
for _service in ("SCHEDULER", "LATE_RUNS", "FOREMAN", "PAUSE_EXPIRATIONS", "REPOSSESSOR", "CANCELLATION_CLEANUP",
                 "DB_VACUUM", "CLEANUP_RECONCILER", "TRIGGERS", "EVENT_LOGGER"):
    os.environ.setdefault(f"PREFECT_SERVER_SERVICES_{_service}_ENABLED", "false")


#: The longest files, longest first (each 1-4 minutes on one worker: two monthly runs, a rerun, a
#: Spark month and the outreach loop; a 10k-member plan evaluated; the wheel installed and run; a
#: plan trained and audited; plans without the optional tables). Under --dist loadfile a worker
#: takes whole files in collection order (with --no-loadscope-reorder, as the Makefile runs it), so
#: these start first and the many short files fill in around them; left in folder order, or in
#: pytest-xdist's own order (most tests first), one worker ran a long file alone at the end.
LONGEST_FILES = (
    "tests/flows/test_monthly_flow.py",
    # second, though shorter than the next two: it builds the audit plan, which other audit files
    # then wait for (test_drift_on_plan.py waited 43 s for it when this file came fourth)
    "tests/audit/test_model_and_month_audit.py",
    "tests/evaluation/test_evaluate.py",
    "tests/install/test_wheel.py",
    "tests/score/test_optional_tables.py",
)


def _start_order(item) -> int:
    path = item.nodeid.split("::")[0]
    return LONGEST_FILES.index(path) if path in LONGEST_FILES else len(LONGEST_FILES)


def pytest_collection_modifyitems(config, items):
    moved = [path for path in LONGEST_FILES if not (config.rootpath / path).is_file()]
    if moved:  # a renamed file would silently lose its early start
        raise pytest.UsageError(f"tests/conftest.py LONGEST_FILES names no such file: {', '.join(moved)}")
    items.sort(key=_start_order)  # stable: each file's tests keep their order


@pytest.fixture(scope="session")
def small_plan(tmp_path_factory, worker_id) -> Path:
    """The small plan of ``smallplan.py`` (deliveries through ``INGESTED`` in the lake, the last
    three still waiting in ``landing/``), where the monthly-flow tests and the wheel test start.
    Built once per run; copy it before changing it."""
    from smallplan import build_small_plan

    return built_once(tmp_path_factory, worker_id, "small-plan", build_small_plan)


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


@pytest.fixture(scope="session")
def prefect_harness(tmp_path_factory):
    """A throw-away Prefect API and database for every flow run of the session (one per test
    worker; each costs a local API server, so only the flow tests ask for it)."""
    os.environ.setdefault("PREFECT_HOME", str(tmp_path_factory.mktemp("prefect-home")))
    from prefect.testing.utilities import prefect_test_harness

    # a busy 2-core machine needs more than the default 30 s to start the server
    with prefect_test_harness(server_startup_timeout=180):
        yield


@pytest.fixture(scope="session")
def model_workspace(tmp_path_factory, worker_id) -> Path:
    """A workspace whose registry holds a champion for each shipped list (the general list, CARES
    and Stronger Together), each trained on its design's as-of months of 1,000 children. Shared by
    the scoring and web worklist tests: trained once per run (:func:`built_once`)."""
    return built_once(tmp_path_factory, worker_id, "registry", _train_registry)


def _train_registry(workspace: Path) -> Path:
    from scorekit import AS_OF, training_frame

    from riskstrat.config import ModelSettings, Settings
    from riskstrat.features import FEATURES
    from riskstrat.model.design import StudyDesign
    from riskstrat.model.registry import champions, load_model
    from riskstrat.model.specs import load_specs, model_fields
    from riskstrat.model.train import fit_and_register

    # Few, shallow trees: the tests need real boosters and calibrators, not good models.
    settings = Settings(model=ModelSettings(max_trees=60, num_leaves=7, min_child_samples=40, train_months=4))
    for seed, spec in enumerate(load_specs(None, settings), start=1):
        own = settings.for_spec(spec.spec)
        design = StudyDesign.from_settings(AS_OF, own.model, spec=spec.name)
        frame = training_frame(1000, list(design.fit_months), seed=seed)
        # recorded as trained from the shipped files as they are (not the smaller fit above): the
        # workspaces that score with them use those files unchanged, so no list reads as outdated
        fit_and_register(workspace, frame, FEATURES, design, own, promote=True, population=spec.population,
                         specification=model_fields(spec.spec))
    for spec, model_id in champions(workspace).items():
        load_model(workspace, model_id, spec=spec)  # fails here, not in every test, if the registry cannot read it back
    return workspace
