"""The riskstrat library's stages as Prefect tasks, shared by every flow.

Retries with exponential back-off sit on the tasks that read and write the workspace, and only
for errors that may pass (``riskstrat.jobs.transient``): a refused delivery, a bad setting or
a model that cannot be trained fails at once with its reason.

Results are never persisted (``persist_result=False``, no cache policy): a task's return value
can hold member-level frames, which must not be pickled into Prefect's result storage, and the
workspace — not Prefect's cache — is what says whether a step is done (riskstrat.jobs).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.runtime import task_run
from prefect.tasks import exponential_backoff

from riskstrat import jobs as job
from riskstrat.config import Settings, load_settings
from riskstrat.core.progress import Progress
from riskstrat.evaluation import Evaluation, evaluate_programme
from riskstrat.ingest import IngestReport, ingest_workspace
from riskstrat.model.train import TrainResult, train_models
from riskstrat.publish.month import ScoreResult, score_month

_progress: Progress | None = None

#: Back-off for file-system hiccups: 10 s, then 20 s (each +/- half, so parallel runs do not retry in step).
RETRIES = 2
BACKOFF = exponential_backoff(backoff_factor=10)


@contextmanager
def reporting(progress: Progress | None) -> Iterator[None]:
    """Route the library's progress callbacks to ``progress`` (the CLI's bars) while flows run in-process."""
    global _progress
    before, _progress = _progress, progress
    try:
        yield
    finally:
        _progress = before


def report(stage: str, done: int, total: int) -> None:
    """Forward one progress tick, if anyone is listening (deployments run with no one)."""
    if _progress is not None:
        _progress(stage, done, total)


def _retry_if_transient(task, task_run, state) -> bool:
    exc = state.data if isinstance(state.data, BaseException) else state.result(raise_on_failure=False)
    return isinstance(exc, BaseException) and job.transient(exc)


def io_task(**kwargs):
    """A task that reads or writes the workspace: retried with back-off on transient errors only."""
    return task(retries=RETRIES, retry_delay_seconds=BACKOFF, retry_jitter_factor=0.5,
                retry_condition_fn=_retry_if_transient, persist_result=False, cache_policy=NO_CACHE, **kwargs)


def plain_task(**kwargs):
    """A task that decides or checks: its failures are answers, never retried."""
    return task(retries=0, persist_result=False, cache_policy=NO_CACHE, **kwargs)


# --- settings and decisions -----------------------------------------------------------------------

@plain_task(name="load settings")
def settings_for(workspace: Path, engine: str | None = None) -> Settings:
    return load_settings(workspace).on_engine(engine)


@plain_task(name="check delivery")
def check_delivery(workspace: Path, month: str, settings: Settings) -> None:
    job.check_delivery(workspace, month, settings)


@io_task(name="check drift", task_run_name="drift {month}")
def check_drift(workspace: Path, month: str, settings: Settings, specs: list[str] | None = None) -> job.DriftChecks | None:
    return job.champion_drift(workspace, month, settings, specs)


@plain_task(name="plan training")
def plan_train(workspace: Path, month: str, settings: Settings, drift: dict[str, str] | None = None) -> job.StepPlan:
    return job.plan_train(workspace, month, settings, drift)


@plain_task(name="plan scoring")
def plan_score(workspace: Path, month: str, settings: Settings, model_id: str | None = None) -> job.StepPlan:
    return job.plan_score(workspace, month, settings, model_id)


# --- stages --------------------------------------------------------------------------------------

def _ingest_run_name() -> str:
    # the month is None when the flow takes every delivery not yet in the lake
    month = task_run.parameters.get("month")
    return f"ingest {month}" if month else "ingest new deliveries"


@io_task(name="ingest", task_run_name=_ingest_run_name)
def ingest(workspace: Path, month: str | None, settings: Settings) -> IngestReport:
    rep = ingest_workspace(workspace, month=month, settings=settings, progress=report)
    totals = rep.totals()
    get_run_logger().info("ingested %d months, %d unchanged; rows in %d, quarantined %d",
                          len(rep.months), len(rep.skipped), totals["rows_in"], totals["rows_quarantined"])
    return rep


@io_task(name="train", task_run_name="train as of {as_of}")
def train(workspace: Path, as_of: str, settings: Settings, specs: list[str] | None = None,
          promote: bool = False) -> list[TrainResult]:
    results = train_models(workspace, as_of, settings, specs, progress=report, promote=promote)
    for result in results:
        get_run_logger().info("%s model %s: %s", result.design.spec, result.model_id, result.decision)
    return results


@io_task(name="score", task_run_name="score {as_of}")
def score(workspace: Path, as_of: str, settings: Settings, model_id: str | None = None,
          features: pd.DataFrame | None = None) -> ScoreResult:
    result = score_month(workspace, as_of, settings, model_id=model_id, progress=report, features=features)
    get_run_logger().info("published outputs/%s", as_of)
    return result


@io_task(name="evaluate", task_run_name="evaluate {program} {first}..{last}")
def evaluate(workspace: Path, program: str, first: str, last: str, settings: Settings) -> Evaluation:
    result = evaluate_programme(workspace, program, first, last, settings, progress=report)
    get_run_logger().info("published %s", result.folder)
    return result


@io_task(name="record step")
def record_step(workspace: Path, month: str, plan: job.StepPlan, outputs=None, detail: dict | None = None) -> None:
    job.record_step(workspace, month, plan.step, plan.inputs, plan.outputs if outputs is None else outputs, detail)


# --- artifacts -------------------------------------------------------------------------------------

def post_summary(summary: job.MonthSummary) -> None:
    """The run's artifacts: the month at a glance (Markdown) and the delivery's reconciliation (table)."""
    key = job.artifact_key(summary.month)
    create_markdown_artifact(summary.to_markdown(), key=key,
                             description=f"riskstrat monthly {summary.month}: " + ("done" if summary.ok else "failed"))
    if summary.ingest_tables:
        create_table_artifact(summary.ingest_tables, key=f"{key}-delivery",
                              description=f"Delivery {summary.month}: rows in, accepted, quarantined per table")


def post_evaluation(result: Evaluation) -> None:
    """The evaluation's table (changes with their intervals, no member data) as a table artifact."""
    columns = ["outcome", "months_after", "change_percent", "low_percent", "high_percent", "naive_change_percent",
               "enrolled_children", "comparison_children"]
    create_table_artifact(result.effects[columns].round(1).to_dict(orient="records"),
                          key=f"riskstrat-evaluation-{result.program}-{result.first}-{result.last}".replace("_", "-"),
                          description=f"Did {result.program} work? Children enrolled {result.first} to {result.last}")
