"""On demand: did a programme work? Evaluate its enrolled children against matched comparisons and
publish outputs/evaluation/<program>-<from>-<to>/."""

from __future__ import annotations

from pathlib import Path

from prefect import flow
from riskstrat.flows import tasks


@flow(name="riskstrat-evaluate", log_prints=False, persist_result=False)
def evaluate(program: str, first: str, last: str, workspace: str = ".") -> dict:
    """Evaluate ``program`` for the children first enrolled from ``first`` to ``last`` (YYYY-MM); every run names
    them (``prefect deployment run riskstrat-evaluate/evaluate -p program=cares -p first=2024-01 -p last=2024-08``)."""
    ws = Path(workspace).resolve()
    settings = tasks.settings_for(ws)                                   # 1. settings
    result = tasks.evaluate(ws, program, first, last, settings)         # 2. cohort, matching, estimates, report
    tasks.post_evaluation(result)                                       # 3. the table as an artifact
    return {"folder": str(result.folder), "children": result.counts,
            "effects": result.effects.to_dict(orient="records")}
