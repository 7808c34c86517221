"""The monthly job's own logic: what to run, what to skip, who may publish, what to report.

The Prefect flows (``riskstrat.flows``) only wire stages together; every decision they need lives
here as a plain function, so it can be tested without Prefect and reused by any other scheduler:

- :mod:`~riskstrat.jobs.plan`: is retraining due (age or drift), may the month's delivery be
  scored, which ingest calls a run makes, which steps are due;
- :mod:`~riskstrat.jobs.steps`: a step whose inputs and outputs are unchanged is skipped;
- :mod:`~riskstrat.jobs.lock`: one run per month at a time;
- :mod:`~riskstrat.jobs.summary`: what the run did, as CLI lines and as the Prefect artifact, and
  the error a stopped run raises with it;
- :mod:`~riskstrat.jobs.errors`: why a run cannot go on.
"""

from riskstrat.jobs.errors import DeliveryRefused, MonthBusy, MonthlyError
from riskstrat.jobs.lock import MonthLock
from riskstrat.jobs.plan import (
    DriftCheck,
    DriftChecks,
    RetrainDecision,
    StepPlan,
    champion_drift,
    check_delivery,
    data_docs_index,
    delivery_problems,
    ingest_batches,
    latest_month,
    ledger_counts,
    months_to_ingest,
    plan_score,
    plan_train,
    retrain_decision,
    retrain_due,
    retrains_due,
    transient,
)
from riskstrat.jobs.steps import (
    read_steps,
    record_step,
    score_inputs,
    state_dir,
    step_is_current,
    step_record,
    train_inputs,
    tree_digest,
)
from riskstrat.jobs.summary import MonthlyRunFailed, MonthSummary, StepOutcome, artifact_key, one_line

__all__ = [
    "DeliveryRefused", "DriftCheck", "DriftChecks", "MonthBusy", "MonthLock", "MonthSummary", "MonthlyError", "MonthlyRunFailed",
    "RetrainDecision", "StepOutcome", "StepPlan", "artifact_key", "champion_drift", "check_delivery",
    "data_docs_index", "delivery_problems", "ingest_batches", "latest_month", "ledger_counts", "months_to_ingest",
    "one_line", "plan_score", "plan_train", "read_steps", "record_step", "retrain_decision", "retrain_due", "retrains_due",
    "score_inputs", "state_dir", "step_is_current", "step_record", "tree_digest", "train_inputs", "transient",
]
