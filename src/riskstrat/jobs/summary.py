"""What a monthly run did: :class:`MonthSummary`, as CLI lines and as the Markdown of the Prefect artifact.

Nothing here logs or returns member-level data: only counts, file names, rules and model ids.
"""

from __future__ import annotations

import csv
import json
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pyarrow.compute as pc
import pyarrow.parquet as pq

from riskstrat.core.workspace import output_dir
from riskstrat.jobs.errors import MonthlyError
from riskstrat.jobs.plan import data_docs_index, ledger_counts
from riskstrat.publish.month import models_named


@dataclass
class StepOutcome:
    """One step of a run: ran, skipped or failed, how long it took, and a note (counts or a reason)."""

    name: str
    status: str  # ran | skipped | failed
    seconds: float = 0.0
    note: str = ""


@dataclass
class MonthSummary:
    """What one monthly run did; rendered as CLI lines and as the run's Prefect artifact."""

    workspace: str
    month: str
    steps: list[StepOutcome] = field(default_factory=list)
    ingest: dict[str, int] = field(default_factory=dict)
    ingest_tables: list[dict] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    retrain: str = ""
    model_id: str | None = None
    scored: int | None = None
    flagged: int | None = None
    worklist: int | None = None
    report: str | None = None
    data_docs: str | None = None
    outputs: str | None = None
    failed_step: str | None = None
    failure: str | None = None

    def __post_init__(self) -> None:
        self._on_step = None

    def watch(self, progress) -> "MonthSummary":
        """Call ``progress(stage, done, total)`` as each step starts and ends (the CLI's bars)."""
        self._on_step = progress
        return self

    @classmethod
    def from_dict(cls, data: dict) -> "MonthSummary":
        """Inverse of :meth:`to_dict` (a flow returns the dict; the CLI prints the summary)."""
        data = dict(data)
        data["steps"] = [StepOutcome(**s) for s in data.get("steps", [])]
        return cls(**data)

    @property
    def ok(self) -> bool:
        """No step failed."""
        return self.failure is None

    @contextmanager
    def step(self, name: str) -> Iterator[StepOutcome]:
        """Time ``name``; record it as ran (or whatever the body set) or, on an exception, failed."""
        outcome = StepOutcome(name, "ran")
        self.steps.append(outcome)
        if self._on_step:
            self._on_step(f"monthly: {name}", 0, 1)
        t0 = time.perf_counter()
        try:
            yield outcome
        except BaseException as exc:
            outcome.status = "failed"
            if self.failure is None:
                self.failed_step, self.failure = name, one_line(exc)
            raise
        finally:
            outcome.seconds = round(time.perf_counter() - t0, 2)
            if self._on_step:
                self._on_step(f"monthly: {name}", 1, 1)

    def fail(self, step: str, exc: BaseException) -> None:
        """Record a failure outside any step (the first failure is the one reported)."""
        if self.failure is None:
            self.failed_step, self.failure = step, one_line(exc)

    def add_ingest(self, reports: Iterable[Any], months: Iterable[str]) -> None:
        """Fold the run's ingest reports and the month's delivery (from the lake's ledger) into the summary.

        The counts are the month's delivery as the lake recorded it, so a rerun that skipped an
        unchanged delivery reports the same rows in and out as the run that ingested it.
        """
        months = list(months)
        ingested, skipped = [], []
        for rep in reports:
            ingested += list(rep.months)
            skipped += list(rep.skipped)
        self.ingest_tables = ledger_counts(self.workspace, [self.month])
        self.ingest = {
            "rows_in": sum(r["rows_in"] or 0 for r in self.ingest_tables),
            "rows_accepted": sum(r["rows_accepted"] or 0 for r in self.ingest_tables),
            "rows_quarantined": sum(r["rows_quarantined"] or 0 for r in self.ingest_tables),
            "months_ingested": len(ingested), "months_unchanged": len(skipped),
        }
        for row in ledger_counts(self.workspace, [m for m in months if m != self.month]):
            if row["status"] in ("refused", "failed"):
                self.warnings.append(f"earlier delivery landing/{row['delivery_month']} {row['table']}: "
                                     f"{row['status']} [{row['rule']}]")

    def add_outputs(self, result: Any = None) -> None:
        """Read the published month folder: counts from run.json and scores.parquet, links to the report."""
        out = output_dir(self.workspace, self.month)
        self.outputs = str(out)
        manifest = {}
        if (out / "run.json").is_file():
            try:
                manifest = json.loads((out / "run.json").read_text(encoding="utf-8"))
            except json.JSONDecodeError:
                manifest = {}
        model = manifest.get("model")
        from_manifest = (models_named(manifest["models"]) if isinstance(manifest.get("models"), dict) else
                         manifest.get("model_id") or (model.get("model_id") if isinstance(model, dict) else model))
        self.model_id = getattr(result, "model_id", None) or from_manifest
        counts = getattr(result, "counts", None) or manifest.get("counts") or {}
        self.scored, self.flagged, self.worklist = counts.get("scored"), counts.get("flagged"), counts.get("worklist_rows")
        if self.scored is None and (out / "scores.parquet").is_file():
            flags = pq.read_table(out / "scores.parquet", columns=["flagged"]).column("flagged")
            self.scored, self.flagged = len(flags), int(pc.sum(flags.cast("int64")).as_py() or 0)
        if self.worklist is None and (out / "worklist.csv").is_file():
            with open(out / "worklist.csv", newline="", encoding="utf-8-sig") as fh:
                self.worklist = max(sum(1 for _ in csv.reader(fh)) - 1, 0)
        audit = manifest.get("audit") or {}
        self.warnings += [f"drift: {w}" for w in audit.get("warnings", []) if f"drift: {w}" not in self.warnings]
        if (out / "report.html").is_file():
            self.report = str(out / "report.html")
        docs = data_docs_index(self.workspace, self.month)
        self.data_docs = str(docs) if docs else None

    # -- rendering
    def lines(self) -> list[str]:
        """One screen for the CLI; counts and paths only."""
        head = f"riskstrat monthly {self.month}: " + ("done" if self.ok else f"FAILED at {self.failed_step}")
        out = [head]
        for s in self.steps:
            out.append(f"  {s.name:<10} {s.status:<8} {s.seconds:>7.1f} s  {s.note}".rstrip())
        if self.ingest:
            i = self.ingest
            out.append(f"  delivery {self.month}: rows in {i['rows_in']:,}, accepted {i['rows_accepted']:,}, "
                       f"quarantined {i['rows_quarantined']:,}")
        if self.retrain:
            out.append(f"  model: {self.retrain}")
        if self.model_id:
            out.append(f"  scored with {self.model_id}: {self._fmt(self.scored)} children, "
                       f"{self._fmt(self.flagged)} flagged, worklist {self._fmt(self.worklist)}")
        for w in self.warnings:
            out.append(f"  warning: {w}")
        if self.report:
            out.append(f"  report:    {self.report}")
        if self.data_docs:
            out.append(f"  data docs: {self.data_docs}")
        if self.failure:
            out.append(f"  reason: {self.failure}")
        return out

    @staticmethod
    def _fmt(value: int | None) -> str:
        return "-" if value is None else f"{value:,}"

    def to_markdown(self) -> str:
        """The Prefect artifact: the month at a glance, or which step failed and why."""
        title = f"# riskstrat monthly {self.month}: " + ("done" if self.ok else f"failed at **{self.failed_step}**")
        md = [title, ""]
        if self.failure:
            md += [f"**Step:** {self.failed_step}  ", f"**Why:** {self.failure}", ""]
        if self.warnings:  # first, so a drift or a refused earlier delivery is not missed below the tables
            md += [f"## Warnings ({len(self.warnings)})", "", *[f"- {w}" for w in self.warnings], ""]
        md += ["| step | status | seconds | note |", "|---|---|---:|---|"]
        md += [f"| {s.name} | {s.status} | {s.seconds:.1f} | {s.note} |" for s in self.steps]
        md.append("")
        if self.ingest:
            i = self.ingest
            md += ["## Delivery " + self.month, "",
                   f"Rows in **{i['rows_in']:,}**, accepted **{i['rows_accepted']:,}**, quarantined "
                   f"**{i['rows_quarantined']:,}**. This run ingested {i['months_ingested']} delivery months "
                   f"({i['months_unchanged']} unchanged, skipped).", ""]
        if self.ingest_tables:
            md += ["| table | status | rows in | accepted | quarantined | warned | rule |", "|---|---|---:|---:|---:|---:|---|"]
            for r in self.ingest_tables:
                md.append(f"| {r['table']} | {r['status']} | {self._fmt(r['rows_in'])} | {self._fmt(r['rows_accepted'])} | "
                          f"{self._fmt(r['rows_quarantined'])} | {self._fmt(r['rows_warned'])} | {r['rule'] or ''} |")
            md.append("")
        if self.retrain or self.model_id:
            md += ["## Model and scores", ""]
            if self.retrain:
                md.append(f"- Retraining: {self.retrain}")
            if self.model_id:
                md.append(f"- Model used: `{self.model_id}`")
                md.append(f"- Children scored: {self._fmt(self.scored)}; flagged: {self._fmt(self.flagged)}; "
                          f"on the worklist: {self._fmt(self.worklist)}")
            md.append("")
        links = []
        if self.report:
            links.append(f"- Run report: [{self.report}]({Path(self.report).as_uri()})")
        if self.data_docs:
            links.append(f"- Data Docs (validation): [{self.data_docs}]({Path(self.data_docs).as_uri()})")
        if self.outputs and self.ok:
            links.append(f"- Outputs folder: `{self.outputs}`")
        if links:
            md += ["## Links", "", *links, ""]
        return "\n".join(md)

    def to_dict(self) -> dict:
        """Plain, JSON-ready form (what the flow returns)."""
        return asdict(self)


def one_line(exc: BaseException) -> str:
    """An exception as one line (type only when it has no message)."""
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


def artifact_key(month: str) -> str:
    """Prefect artifact keys allow lowercase letters, digits and dashes only."""
    return f"riskstrat-monthly-{month}"


class MonthlyRunFailed(MonthlyError):
    """A monthly run stopped; carries its :class:`MonthSummary` so callers can show what was done."""

    def __init__(self, summary: "MonthSummary"):
        super().__init__(f"{summary.month} failed at {summary.failed_step}: {summary.failure}")
        self.summary = summary

    def __reduce__(self):
        return (type(self), (self.summary,))
