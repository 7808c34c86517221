"""``riskstrat score``: score a month and publish it, as one step.

Gather the month from the lake and the registry, score every list that has a model
(:mod:`riskstrat.scoring`), audit each list with its own model (:mod:`riskstrat.audit.month`,
handed the outcome labels of matured months) and publish ``outputs/YYYY-MM/`` atomically
(:mod:`riskstrat.publish.outputs`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from riskstrat.audit.month import month_audit
from riskstrat.config import Settings
from riskstrat.core.months import check_month
from riskstrat.core.progress import Progress, tick
from riskstrat.model.labels import outcome_labeller
from riskstrat.publish.outputs import publish_month
from riskstrat.scoring.month import MonthScores, gather_inputs, score_population


def models_named(model_ids: dict[str, str]) -> str:
    """Every list's model in one short string: the id alone when one list was scored."""
    if len(model_ids) == 1:
        return next(iter(model_ids.values()))
    return ", ".join(f"{name} {model_id}" for name, model_id in model_ids.items())


@dataclass
class ScoreResult:
    """What a scoring run published, for the CLI and the monthly flow (counts only, no member data).

    ``model_ids``: the model of each list scored (specification name -> model id); ``titles``:
    each list's title; ``skipped``: the lists not scored, title -> why; ``outdated``: the lists scored
    by a model that learned before their specification file changed, title -> what changed.
    ``counts`` are over distinct children (the combined list), each list's under ``lists``.
    """

    as_of: str
    model_ids: dict[str, str]
    out_dir: Path
    counts: dict
    timings: dict
    titles: dict[str, str] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    outdated: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def model_id(self) -> str:
        """Every model in one short string (:func:`models_named`)."""
        return models_named(self.model_ids)

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
        """The month in a few lines: all lists together, then one line per list."""
        c = self.counts
        progs = ", ".join(f"{k} {v}" for k, v in c["flagged_by_program"].items())
        lines = [
            f"Scored {c['scored']:,} children for {self.as_of} on {len(self.model_ids)} list(s): "
            f"{c['flagged']:,} flagged in {c['households']:,} households "
            f"({c['flagged_new']:,} new, {c['flagged_continuing']:,} continuing).",
        ]
        for name, model_id in self.model_ids.items():
            own = c["lists"][name]
            tiers = ", ".join(f"{k} {v}" for k, v in own["flagged_by_tier"].items() if v)
            lines.append(
                f"{self.titles.get(name, name)} (model {model_id}): {own['scored']:,} scored, "
                f"{own['suppressed']:,} suppressed, {own['flagged']:,} flagged in {own['households']:,} households "
                f"({own['flagged_new']:,} new, {own['flagged_continuing']:,} continuing); tiers: {tiers or '-'}.")
        lines += [f"Not scored: {title}, {why}." for title, why in self.skipped.items()]
        lines += [f"Scored with an outdated model: {title}, {why}." for title, why in self.outdated.items()]
        lines += [f"Note: {note}." for note in self.notes]
        lines += [f"Program match: {progs or '-'}.", f"Took {sum(self.timings.values()):.1f} s."]
        return lines


def audit_lists(workspace: Path, month: MonthScores, settings: Settings, timings: dict,
                progress: Progress | None = None) -> None:
    """Audit each list with its own model, population, outcome and horizon (sets each list's ``audit``)."""
    for i, ls in enumerate(month.lists):
        t0 = time.perf_counter()
        own = settings.for_spec(ls.spec.spec)
        ls.audit = month_audit(workspace, month.as_of, ls.model, ls.features, ls.scores, own,
                               outcome_labeller(workspace, own))
        timings[f"audit_{ls.spec.name}"] = round(time.perf_counter() - t0, 3)
        tick(progress, "audit", i + 1, len(month.lists))


def score_month(workspace: Path, as_of: str, settings: Settings | None = None, model_id: str | None = None,
                progress: Progress | None = None, features: pd.DataFrame | None = None) -> ScoreResult:
    """Score every child enrolled at ``as_of`` on every list that has a model and publish
    ``workspace/outputs/<as_of>/`` atomically.

    The month folder holds scores.parquet, explanations.parquet, worklist.csv (all lists),
    worklist_<list>.csv, worklist.xlsx, report.html and run.json (see ../shared/spec/outputs.md
    and docs/worklists.md). Re-running with the same lake and models gives the same bytes
    (run.json differs only in its timings). ``model_id``: score the list of that model's
    specification with it instead of its champion. ``features``: the month's feature table if the
    caller already has it (see :func:`riskstrat.scoring.month.gather_inputs`).
    """
    check_month(as_of, "as_of")
    workspace = Path(workspace)
    settings = settings or Settings()
    timings: dict[str, float] = {}
    inputs = gather_inputs(workspace, as_of, settings, model_id, timings, progress, features)
    month = score_population(inputs, settings, progress, timings)
    audit_lists(workspace, month, settings, timings, progress)
    out_dir = publish_month(workspace, month, inputs, settings, timings, progress)
    return ScoreResult(as_of=as_of, model_ids=month.model_ids, out_dir=out_dir, counts=month.counts, timings=timings,
                       titles={ls.spec.name: ls.spec.title for ls in month.lists}, skipped={s.title: why for s, why in month.skipped},
                       outdated={s.title: why for s, why in month.outdated}, notes=month.notes)
