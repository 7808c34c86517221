"""On demand: backtest, fit and register a model; promote it if it is not worse than the champion."""

from __future__ import annotations

from pathlib import Path

from prefect import flow
from prefect.artifacts import create_markdown_artifact
from riskstrat.flows import tasks

from riskstrat import jobs as job


@flow(name="riskstrat-train", log_prints=False, persist_result=False)
def train(workspace: str = ".", as_of: str | None = None, promote: bool = False) -> dict:
    """Train as of ``as_of`` (default: the newest delivery month); returns the model id and decision."""
    ws = Path(workspace).resolve()
    as_of = as_of or job.latest_month(ws)
    settings = tasks.settings_for(ws)                                          # 1. settings
    result = tasks.train(ws, as_of, settings, promote=promote)                 # 2. train, evaluate, register
    create_markdown_artifact(                                                  # 3. what came out
        "\n".join([f"# riskstrat model {result.model_id}", "", *[f"- {line}" for line in result.summary_lines()],
                   f"- {'champion' if result.promoted else 'challenger'}: {result.decision}",
                   f"- model card: `{result.model_dir / 'card.html'}`"]),
        key="riskstrat-train", description=f"Model trained as of {as_of}")
    return {"model_id": result.model_id, "promoted": result.promoted, "decision": result.decision}
