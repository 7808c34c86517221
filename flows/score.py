"""On demand: score every enrolled child for a month and publish outputs/YYYY-MM/."""

from __future__ import annotations

from pathlib import Path

from prefect import flow
from riskstrat.flows import tasks

from riskstrat import jobs as job


@flow(name="riskstrat-score", log_prints=False, persist_result=False)
def score(workspace: str = ".", as_of: str | None = None, model_id: str | None = None) -> dict:
    """Score ``as_of`` (default: the newest delivery) with ``model_id`` (default: the champion)."""
    ws = Path(workspace).resolve()
    as_of = as_of or job.latest_month(ws)
    summary = job.MonthSummary(str(ws), as_of)
    try:
        with job.MonthLock(ws, as_of, owner="score flow"):                    # 0. never publish beside a monthly run
            with summary.step("settings"):
                settings = tasks.settings_for(ws)                              # 1. settings
            with summary.step("score"):
                result = tasks.score(ws, as_of, settings, model_id)            # 2. score, explain, publish
        summary.add_outputs(result)
    except Exception as exc:
        summary.fail("lock", exc)
        raise
    finally:
        tasks.post_summary(summary)                                            # 3. what was published, or why not
    return summary.to_dict()
