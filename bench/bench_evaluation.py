"""Benchmark: programme evaluation against a planted effect (issue #21), on a plan large enough to see it.

A 300k-member, 36-month synthetic plan (2022-12..2025-11, seed 21) in which Stronger Together
enrols children month by month, likelier at high true risk and just after a crisis, and its
enrolment removes 40% of their acute hazards from the next month; CARES enrols the same way with
no effect (``riskstrat synth --plant-effect stronger_together=0.4 --plant-effect cares=0``).
Setup, not timed: the plan is generated, ingested, and each programme's model trained (default
design, two folds, no learning curve) once; the workspace is kept in ``bench/work/evaluation300k`` and reused.

Timed: ``evaluate_programme`` of both programmes for the children first enrolled 2024-01..2024-08
(the last month whose 12 months of follow-up the claims run-out covers). The verdict is the
issue's: Stronger Together's change in acute admissions has a 95% interval covering -40%, CARES's
covers 0, the naive before/after of CARES shows a reduction that is not there, and every
standardised mean difference after matching is under 0.1. Acute admissions are rare in children
(a few per thousand child-months), which is why the plan is this large: the tests' 10k-member
plan has too few to estimate them and checks ED visits instead.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from common import stderr_progress

from riskstrat.config import load_settings
from riskstrat.evaluation import evaluate_programme
from riskstrat.ingest import ingest_workspace
from riskstrat.model.train import train_models
from riskstrat.synth import PlanSpec, generate_plan

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "bench" / "work" / "evaluation300k"
MEMBERS, MONTHS, END, SEED = 300_000, 36, "2025-11", 21
PLANTED = {"stronger_together": 0.4, "cares": 0.0}
FIRST, LAST = "2024-01", "2024-08"
NAME = "evaluate: Stronger Together (40% planted) and CARES (none), 300k members, 2024-01..2024-08 enrolments"


def setup() -> None:
    progress = stderr_progress(30)
    if not (WORK / "truth" / "programme_effects.json").exists():
        generate_plan(WORK, PlanSpec(members=MEMBERS, months=MONTHS, end=END, seed=SEED, programme_effects=PLANTED),
                      progress)
    # two folds and no learning curve: the models only score the children to match on, and a
    # 300k first training from the claims costs a quarter of an hour as it is
    (WORK / "riskstrat.toml").write_text("[model]\nfolds = 2\nlearning_curve_shares = []\n", encoding="utf-8")
    settings = load_settings(WORK)
    ingest_workspace(WORK, settings=settings, progress=progress)
    if not (WORK / "models" / "champion.json").exists():
        train_models(WORK, END, settings, list(PLANTED), progress=progress)


def verdict(results: dict, truth: dict) -> tuple[bool, list[str]]:
    lines, ok = [], True
    for program, result in results.items():
        planted = -100 * truth["programmes"][program]["reduction"]
        effects = result.effects
        worst = float(result.balance["smd_after"].abs().max())
        ok &= worst < 0.1
        lines.append(f"- {program} (planted {planted:+.0f}%): {result.counts['matched']:,} enrolled children matched to "
                     f"{result.counts['comparisons']:,} comparisons ({result.counts['unmatched']} unmatched); largest "
                     f"|SMD| after matching {worst:.3f}")
        for r in effects.itertuples(index=False):
            covers = r.low_percent <= planted <= r.high_percent
            if r.outcome == "Acute admissions":
                ok &= bool(covers)
            lines.append(f"  - {r.outcome}, {r.months_after} months: {r.change_percent:+.1f}% "
                         f"({r.low_percent:+.1f}% to {r.high_percent:+.1f}%), covers {planted:+.0f}%: "
                         f"{'yes' if covers else 'no'}; naive before/after {r.naive_change_percent:+.1f}% "
                         f"({r.naive_low_percent:+.1f}% to {r.naive_high_percent:+.1f}%)")
    cares = results["cares"].effects
    ok &= bool((cares["naive_change_percent"][cares["outcome"] != "Paid PMPM"] < 0).any())
    return ok, lines


def main() -> None:
    t0 = time.perf_counter()
    setup()
    setup_seconds = time.perf_counter() - t0
    settings = load_settings(WORK)
    t1 = time.perf_counter()
    results = {p: evaluate_programme(WORK, p, FIRST, LAST, settings, stderr_progress(30)) for p in PLANTED}
    seconds = time.perf_counter() - t1
    truth = json.loads((WORK / "truth" / "programme_effects.json").read_text(encoding="utf-8"))
    ok, lines = verdict(results, truth)
    print("\n".join(lines), file=sys.stderr)
    print(json.dumps({
        "name": NAME, "seconds": round(seconds, 1), "target_seconds": None,
        "note": f"setup (synth, ingest, training, not timed) {setup_seconds:.0f} s; planted effect "
                f"{'recovered' if ok else 'NOT recovered'} (see the section below)",
        "section": ["## Programme evaluation against a planted effect", "", *lines],
    }))


if __name__ == "__main__":
    main()
