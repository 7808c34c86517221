"""``riskstrat score``: score a month and publish it, as one step.

Gather the month from the lake and the registry, score it (:mod:`riskstrat.scoring`), audit it
(:mod:`riskstrat.audit.month`, handed the outcome labels of matured months) and publish
``outputs/YYYY-MM/`` atomically (:mod:`riskstrat.publish.outputs`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from riskstrat.audit.month import month_audit
from riskstrat.config import Settings
from riskstrat.core.months import check_month
from riskstrat.core.progress import Progress
from riskstrat.model.labels import outcome_labeller
from riskstrat.publish.outputs import publish_month
from riskstrat.scoring.month import gather_inputs, score_population
from riskstrat.scoring.programs import load_programs, programs_file


@dataclass
class ScoreResult:
    """What a scoring run published, for the CLI and the monthly flow (counts only, no member data)."""

    as_of: str
    model_id: str
    out_dir: Path
    counts: dict
    timings: dict

    @property
    def worklist_csv(self) -> Path:
        return self.out_dir / "worklist.csv"

    @property
    def worklist_xlsx(self) -> Path:
        return self.out_dir / "worklist.xlsx"

    @property
    def report(self) -> Path:
        return self.out_dir / "report.html"

    def summary_lines(self) -> list[str]:
        c = self.counts
        tiers = ", ".join(f"{k} {v}" for k, v in c["flagged_by_tier"].items() if v)
        progs = ", ".join(f"{k} {v}" for k, v in c["flagged_by_program"].items())
        return [
            f"Scored {c['scored']:,} children for {self.as_of} with model {self.model_id}.",
            f"Suppressed (already served or declined recently): {c['suppressed']:,}.",
            f"Flagged {c['flagged']:,} in {c['households']:,} households "
            f"({c['flagged_new']:,} new, {c['flagged_continuing']:,} continuing); tiers: {tiers or '-'}.",
            f"Program match: {progs or '-'}.",
            f"Took {sum(self.timings.values()):.1f} s.",
        ]


def score_month(workspace: Path, as_of: str, settings: Settings | None = None, model_id: str | None = None,
                progress: Progress | None = None, features: pd.DataFrame | None = None) -> ScoreResult:
    """Score every child enrolled at ``as_of`` and publish ``workspace/outputs/<as_of>/`` atomically.

    The month folder holds scores.parquet, explanations.parquet, worklist.csv, worklist.xlsx,
    report.html and run.json (see ../shared/spec/outputs.md). Re-running with the same lake and
    model gives the same bytes (run.json differs only in its timings). ``features``: the month's
    feature table if the caller already has it (see :func:`riskstrat.scoring.month.gather_inputs`).
    """
    check_month(as_of, "as_of")
    workspace = Path(workspace)
    settings = settings or Settings()
    timings: dict[str, float] = {}
    programs = load_programs(programs_file(workspace, settings.scoring))
    inputs = gather_inputs(workspace, as_of, settings, model_id, timings, progress, features)
    month = score_population(inputs, settings.scoring, programs, progress, timings)
    t0 = time.perf_counter()
    month.audit = month_audit(workspace, as_of, inputs.model, inputs.features, month.scores, settings,
                              outcome_labeller(workspace, settings))
    timings["audit"] = round(time.perf_counter() - t0, 3)
    out_dir = publish_month(workspace, month, inputs, settings, timings, progress)
    return ScoreResult(as_of=as_of, model_id=month.model_id, out_dir=out_dir, counts=month.counts, timings=timings)
