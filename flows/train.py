"""On demand: backtest, fit and register a model; promote it if it is not worse than the champion."""

from __future__ import annotations

from pathlib import Path

from prefect import flow
from prefect.artifacts import create_markdown_artifact
from riskstrat.flows import tasks

from riskstrat import jobs as job


@flow(name="riskstrat-train", log_prints=False, persist_result=False)
def train(workspace: str = ".", as_of: str | None = None, promote: bool = False, model: str | None = None) -> dict:
    """Train as of ``as_of`` (default: the newest delivery month) every specification, or ``model``;
    returns each specification's model id and decision."""
    ws = Path(workspace).resolve()
    as_of = as_of or job.latest_month(ws)
    settings = tasks.settings_for(ws)                                          # 1. settings
    results = tasks.train(ws, as_of, settings, [model] if model else None, promote=promote)  # 2. train, evaluate, register
    lines = [f"# riskstrat models trained as of {as_of}", ""]                  # 3. what came out
    for result in results:
        lines += [f"## {result.design.spec}: {result.model_id}", *[f"- {line}" for line in result.summary_lines()],
                  f"- {'champion' if result.promoted else 'challenger'}: {result.decision}",
                  f"- model card: `{result.model_dir / 'card.html'}`", ""]
    create_markdown_artifact("\n".join(lines), key="riskstrat-train", description=f"Models trained as of {as_of}")
    return {r.design.spec: {"model_id": r.model_id, "promoted": r.promoted, "decision": r.decision} for r in results}
