"""One Prefect test harness per session (each costs a local API server)."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")


@pytest.fixture(scope="session")
def prefect_harness(tmp_path_factory):
    """A throw-away Prefect API and database for every flow run of the session."""
    os.environ.setdefault("PREFECT_HOME", str(tmp_path_factory.mktemp("prefect-home")))
    from prefect.testing.utilities import prefect_test_harness

    # a busy 2-core machine needs more than the default 30 s to start the server
    with prefect_test_harness(server_startup_timeout=180):
        yield
