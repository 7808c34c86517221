"""The monthly job: ingest the new delivery, check it, retrain when due, score and publish, report.

Runs on the cron schedule in ``prefect.yaml`` (``schedule.cron`` in riskstrat.toml), or at once
with ``riskstrat monthly --workspace W --month YYYY-MM``. Every decision (is retraining due, is
a step unchanged, may this run publish) is a riskstrat.jobs function; this file is the recipe.
"""

from __future__ import annotations

from pathlib import Path

from prefect import flow, get_run_logger
from prefect.runtime import flow_run
from riskstrat.flows import tasks

from riskstrat import jobs as job


@flow(name="riskstrat-monthly", log_prints=False, persist_result=False)
def monthly(workspace: str = ".", month: str | None = None, engine: str | None = None) -> dict:
    """One month of riskstrat: returns the month's summary (counts and paths, no member data).

    ``engine``: duckdb or spark for this run (default: riskstrat.toml's ``engine.name``)."""
    ws = Path(workspace).resolve()
    summary = job.MonthSummary(str(ws), month or "latest").watch(tasks.report)
    logger = get_run_logger()
    try:
        if month is None:                                                   # scheduled runs take the newest delivery
            with summary.step("find month"):
                month = summary.month = job.latest_month(ws)
        with summary.step("lock"):                                         # 0. one run of a month at a time
            lock = job.MonthLock(ws, month, owner=f"flow run {flow_run.get_name()}").acquire()
        try:
            with summary.step("settings"):                                  # 1. one validated settings model
                settings = tasks.settings_for(ws, engine)
            with summary.step("ingest") as step:                            # 2. landing -> lake + quarantine
                batches = job.ingest_batches(ws, month)
                reports = [tasks.ingest(ws, m, settings) for m in batches]
                summary.add_ingest(reports, job.months_to_ingest(ws, month))
                step.status = "ran" if any(r.months for r in reports) else "skipped"
                step.note = f"{summary.ingest['months_ingested']} months ingested, {summary.ingest['months_unchanged']} unchanged"
            with summary.step("validate"):                                  # 3. a refused delivery stops the run
                tasks.check_delivery(ws, month, settings)
            with summary.step("drift") as step:                             # 4. has the plan moved since each champion's training?
                by_age = job.retrains_due(ws, month, settings)               # a list already due needs no drift check
                undecided = [spec for spec, d in by_age.items() if not d.due]
                checks = tasks.check_drift(ws, month, settings, undecided) if undecided else None
                features = None if checks is None else checks.features  # kept for scoring here, not in the checks
                if checks is not None:
                    checks.features = None
                step.status = "ran" if checks else "skipped"
                step.note = (checks.note() if checks else
                             "retraining is due anyway for every list" if not undecided else
                             "no champion with a drift reference, or drift may not trigger retraining")
            with summary.step("train") as step:                             # 5. retrain each list when due (age or drift)
                plan = tasks.plan_train(ws, month, settings, drift=checks.due() if checks else None)
                summary.retrain = plan.reason
                if plan.run:
                    features = None  # training's own frames need the memory more than scoring needs the minute
                    trained = tasks.train(ws, month, settings, specs=list(plan.specs))
                    decisions = "; ".join(f"{r.design.spec} {r.model_id}: {r.decision}" for r in trained)
                    tasks.record_step(ws, month, plan, outputs=[r.model_dir for r in trained],
                                      detail={"decision": decisions})
                    summary.retrain = f"{plan.reason}. Trained: {decisions}"
                step.status, step.note = (("ran", "trained " + ", ".join(r.model_id for r in trained)) if plan.run
                                          else ("skipped", plan.reason))
            with summary.step("score") as step:                             # 6. score, explain, audit, publish, report
                plan = tasks.plan_score(ws, month, settings)
                scored = tasks.score(ws, month, settings, None, features) if plan.run else None
                if plan.run:
                    tasks.record_step(ws, month, plan)
                summary.add_outputs(scored)
                step.status, step.note = ("ran" if plan.run else "skipped"), plan.reason
        finally:
            lock.release()
    except Exception as exc:
        summary.fail("monthly", exc)
        logger.error("monthly %s failed at %s: %s", month, summary.failed_step, summary.failure)
        raise job.MonthlyRunFailed(summary) from exc
    finally:
        tasks.post_summary(summary)                                          # 7. the month at a glance
    for line in summary.lines():
        logger.info(line)
    return summary.to_dict()


if __name__ == "__main__":
    import sys

    monthly(*sys.argv[1:4])
