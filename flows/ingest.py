"""On demand: validate deliveries against the data contracts and load them into the lake."""

from __future__ import annotations

from pathlib import Path

from prefect import flow
from prefect.artifacts import create_table_artifact
from riskstrat.flows import tasks

from riskstrat import jobs as job


@flow(name="riskstrat-ingest", log_prints=False, persist_result=False)
def ingest(workspace: str = ".", month: str | None = None) -> dict:
    """Ingest ``month`` (default: every new delivery); fails with the reason of any refused table."""
    ws = Path(workspace).resolve()
    settings = tasks.settings_for(ws)                                          # 1. settings
    report = tasks.ingest(ws, month, settings)                                 # 2. landing -> lake + quarantine
    rows = job.ledger_counts(ws, report.months)                                # 3. reconciliation
    if rows:
        create_table_artifact(rows, key="riskstrat-ingest", description="Rows in, accepted and quarantined per table and delivery")
    if not report.ok:                                                          # 4. refused deliveries fail the run
        raise job.DeliveryRefused("; ".join(report.problems()))
    return {"months": report.months, "skipped": report.skipped, **report.totals()}
