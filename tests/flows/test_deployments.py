"""prefect.yaml and flows/serve.py describe deployments Prefect can load, on the settings' schedule."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest
import yaml

from riskstrat.config import ScheduleSettings

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def project() -> dict:
    return yaml.safe_load((REPO / "prefect.yaml").read_text())


def test_every_deployment_points_at_a_flow_that_takes_its_parameters(project, monkeypatch):
    from prefect.flows import load_flow_from_entrypoint

    monkeypatch.chdir(REPO)  # as the worker does after the pull step
    names = {d["name"] for d in project["deployments"]}
    assert names == {"monthly", "train", "score", "ingest", "evaluate"}
    for d in project["deployments"]:
        flow = load_flow_from_entrypoint(d["entrypoint"])
        assert flow.name == f"riskstrat-{d['name']}"
        assert set(d["parameters"]) <= set(inspect.signature(flow.fn).parameters)


def test_monthly_runs_on_the_default_schedule_and_the_rest_on_demand(project):
    by_name = {d["name"]: d for d in project["deployments"]}
    (schedule,) = by_name["monthly"]["schedules"]
    default = ScheduleSettings()
    assert (schedule["cron"], schedule["timezone"]) == (default.cron, default.timezone)
    assert all(not by_name[n].get("schedules") for n in ("train", "score", "ingest", "evaluate"))


def test_serve_takes_the_cron_from_the_workspace(tmp_path):
    from riskstrat.flows.serve import deployments

    (tmp_path / "riskstrat.toml").write_text('[schedule]\ncron = "30 7 6 * *"\ntimezone = "America/Chicago"\n')
    monthly = next(d for d in deployments(str(tmp_path)) if d.name == "monthly")
    (sched,) = monthly.schedules
    assert sched.schedule.cron == "30 7 6 * *"
    assert str(sched.schedule.timezone) == "America/Chicago"
    assert monthly.parameters == {"workspace": str(tmp_path.resolve())}


def test_the_server_books_the_monthly_runs_at_six_on_the_fifth(prefect_harness, tmp_path):
    """What Prefect's scheduler service does with the deployment, through the same server code.

    Caught a real break: with SQLAlchemy 2.1 the server's scheduler fails on every pass, so a
    deployed cron would never start a run (hence the ``sqlalchemy<2.1`` pin in pyproject.toml).
    """
    from datetime import timedelta
    from zoneinfo import ZoneInfo

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId
    from riskstrat.flows.serve import deployments

    monthly = next(d for d in deployments(str(tmp_path)) if d.name == "monthly")
    deployment_id = monthly.apply()
    with get_client(sync_client=True) as client:
        response = client.request("POST", "/deployments/{id}/schedule", path_params={"id": deployment_id},
                                  json={"max_runs": 3, "end_time": None})
        assert response.status_code < 300, response.text
        runs = client.read_flow_runs(deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id])))
    starts = sorted(r.expected_start_time.astimezone(ZoneInfo("America/New_York")) for r in runs)
    assert len(starts) >= 2
    assert all((s.day, s.hour, s.minute) == (5, 6, 0) for s in starts)
    assert all(r.state_type.value == "SCHEDULED" for r in runs)
    assert timedelta(days=27) < starts[1] - starts[0] < timedelta(days=32)
