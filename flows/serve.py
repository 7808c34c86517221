"""Serve riskstrat's flows from this process, with the monthly cron taken from the workspace's settings.

    python -m riskstrat.flows.serve --workspace demo

The no-work-pool alternative to ``prefect.yaml``: the monthly deployment runs on
``schedule.cron`` in ``schedule.timezone`` (riskstrat.toml), train, score, ingest and evaluate on demand.
Needs a Prefect server (``prefect server start``); stop with Ctrl-C.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from prefect import serve
from prefect.schedules import Cron
from riskstrat.flows.evaluate import evaluate
from riskstrat.flows.ingest import ingest
from riskstrat.flows.monthly import monthly
from riskstrat.flows.score import score
from riskstrat.flows.train import train

from riskstrat.config import load_settings


def deployments(workspace: str) -> list:
    """The five deployments for ``workspace``; the monthly one on the workspace's own schedule."""
    workspace = str(Path(workspace).resolve())
    schedule = load_settings(Path(workspace)).schedule
    params = {"workspace": workspace}
    return [
        monthly.to_deployment("monthly", parameters=params, schedule=Cron(schedule.cron, timezone=schedule.timezone),
                              concurrency_limit=1, tags=["riskstrat", "monthly"]),
        train.to_deployment("train", parameters=params, tags=["riskstrat", "on-demand"]),
        score.to_deployment("score", parameters=params, tags=["riskstrat", "on-demand"]),
        ingest.to_deployment("ingest", parameters=params, tags=["riskstrat", "on-demand"]),
        evaluate.to_deployment("evaluate", parameters=params, tags=["riskstrat", "on-demand"]),
    ]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workspace", default=".", help="the plan's workspace folder")
    serve(*deployments(parser.parse_args(argv).workspace))


if __name__ == "__main__":
    main()
