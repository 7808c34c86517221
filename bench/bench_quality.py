"""Benchmark: does each list find its programme's children better than the alternatives?

On a synthetic plan (its true per-child risk of every outcome is known: truth/risk.parquet), every
specification is trained as of the plan's last month and the month is scored as the monthly job
would. Each list is then judged on the oracle's true risk of its own outcome, among the children
its population admits, at its monthly capacity:

- its own model (the programme's list);
- the general acute-event model's ranking, filtered to the programme's population;
- the rules baseline (prior ED or inpatient use and a behavioural-health diagnosis);
- the oracle itself (the best list of the same size).

"Capture" is the true risk the list carries divided by the oracle list's. For the general list the
notebook a data scientist would write instead (../shared/baseline/pandas_baseline.py) scores the
same month, and both are judged by expected AUROC against the oracle. The last stdout line is the
JSON result bench/run.py reads; ``quality`` holds the Markdown rows for bench/RESULTS.md.

    python bench/bench_quality.py [MEMBERS]      (default 30,000 members x 36 months)
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from common import stderr_progress

from riskstrat.audit import performance as perf
from riskstrat.config import load_settings
from riskstrat.core.ranking import pick_top
from riskstrat.core.workspace import MODELS
from riskstrat.features import build_features
from riskstrat.ingest import ingest_workspace
from riskstrat.model import registry
from riskstrat.model.baselines import RulesBaseline
from riskstrat.model.specs import load_specs
from riskstrat.model.train import train_models
from riskstrat.synth.plan import generate_plan
from riskstrat.synth.spec import PlanSpec

ROOT = Path(__file__).resolve().parents[1]
MEMBERS = int(sys.argv[1]) if len(sys.argv) > 1 else 30_000
END, MONTHS, SEED = "2025-11", 36, 7
WORK = ROOT / "bench" / "work" / f"quality{MEMBERS // 1000}k"
NOTEBOOK = ROOT.parent / "shared" / "baseline" / "pandas_baseline.py"


def capture(p_true: np.ndarray, score: np.ndarray, ids: np.ndarray, capacity: int) -> float:
    """True risk carried by the top ``capacity`` by ``score``, over the oracle list's."""
    k = min(capacity, len(p_true))
    picked = pick_top(score, ids, k)
    best = pick_top(p_true, ids, k)
    return float(p_true[picked].sum() / p_true[best].sum())


def main() -> None:
    started = time.perf_counter()
    progress = stderr_progress()
    if not (WORK / "lake").is_dir():
        generate_plan(WORK, PlanSpec(members=MEMBERS, months=MONTHS, end=END, seed=SEED, defect_rate=0.0))
        ingest_workspace(WORK, settings=load_settings(WORK).ingest, progress=progress)
    settings = load_settings(WORK)
    shutil.rmtree(WORK / MODELS, ignore_errors=True)  # the lists of the code being measured, not an earlier run's
    trained = train_models(WORK, END, settings, progress=progress, promote=True)
    features = build_features(WORK, END, settings)
    ids = features["person_id"].astype("string").to_numpy(dtype=object)
    truth = pd.read_parquet(WORK / "truth" / "risk.parquet")
    truth = truth[truth["month"].astype(str) == END]
    truth.index = truth["person_id"].astype("string")
    general = registry.load_model(WORK).predict_proba(features)
    ms = settings.model
    rules = RulesBaseline(tuple(ms.rules_use_features), tuple(ms.rules_bh_features)).score(features)
    rows, result = [], {}
    for spec in load_specs(WORK, settings):
        own = registry.load_model(WORK, spec=spec.name).predict_proba(features)
        admitted = np.ones(len(features), bool) if spec.population is None else spec.population.test(features)
        p = truth[f"p_{spec.spec.outcome}"].reindex(ids).to_numpy(float)
        keep = admitted & ~np.isnan(p)
        capacity = settings.for_spec(spec.spec).scoring.capacity
        found = {name: capture(p[keep], s[keep], ids[keep], capacity)
                 for name, s in (("own model", own), ("general model", general), ("rules", rules))}
        exp_auc = {name: perf.expected_auroc(p[keep], s[keep]) / perf.expected_auroc(p[keep], p[keep])
                   for name, s in (("own model", own), ("general model", general), ("rules", rules))}
        result[spec.name] = {"children": int(keep.sum()), "capacity": capacity, "capture": found, "expected_auroc_ratio": exp_auc}
        rows.append(f"| {spec.title} | {spec.spec.outcome} | {int(keep.sum()):,} | {capacity} | "
                    f"{found['own model']:.3f} | {found['general model']:.3f} | {found['rules']:.3f} | "
                    f"{exp_auc['own model']:.3f} | {exp_auc['general model']:.3f} |")
    notebook_line = "notebook baseline not run (../shared/baseline/pandas_baseline.py not found)"
    if NOTEBOOK.exists():
        out = WORK / "notebook"
        subprocess.run([sys.executable, str(NOTEBOOK), str(WORK), "--as-of", END, "--out", str(out), "--threads", "2"],
                       check=True, stdout=subprocess.DEVNULL)
        nb = pd.read_parquet(out / "scores.parquet").assign(person_id=lambda f: f["person_id"].astype("string"))
        p = truth["p_acute_event"].reindex(ids).to_numpy(float)
        nb_score = nb.set_index("person_id")["score"].reindex(ids).to_numpy(float)
        both = ~np.isnan(p) & ~np.isnan(nb_score)
        oracle = perf.expected_auroc(p[both], p[both])
        ours = perf.expected_auroc(p[both], general[both]) / oracle
        theirs = perf.expected_auroc(p[both], nb_score[both]) / oracle
        top = max(1, int(round(0.01 * both.sum())))
        result["general_vs_notebook"] = {"children": int(both.sum()), "riskstrat": ours, "notebook": theirs,
                                         "top1_capture_riskstrat": capture(p[both], general[both], ids[both], top),
                                         "top1_capture_notebook": capture(p[both], nb_score[both], ids[both], top)}
        g = result["general_vs_notebook"]
        notebook_line = (f"general list, {END}, the {g['children']:,} children both scored: expected-AUROC ratio to the "
                         f"oracle {g['riskstrat']:.3f} for riskstrat against {g['notebook']:.3f} for the notebook; "
                         f"top-1% capture of true risk {g['top1_capture_riskstrat']:.3f} against {g['top1_capture_notebook']:.3f}")
    quality = [
        f"Synthetic plan of {MEMBERS:,} members x {MONTHS} months (seed {SEED}), every list trained as of {END} and "
        f"the month {END} scored; judged on the generator's true risk of each list's own outcome, among the "
        "children its population admits, at its capacity. Capture = true risk on the list / true risk on the best "
        "list of the same size.",
        "",
        "| list | outcome | children admitted | capacity | capture: own model | capture: general model filtered | "
        "capture: rules | expected AUROC / oracle: own | expected AUROC / oracle: general |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
        *rows,
        "",
        notebook_line + ".",
    ]
    curve = ["", "### Learning curve", "",
             "Each list's first fold refitted on a share of its training children, judged on the same test rows "
             "(the model card's learning curve). Expected AUROC is against the generator's true risk.", "",
             "| list | children learned from | test rows | AUROC | expected AUROC |", "|---|---:|---:|---:|---:|"]
    for r in trained:
        for point in r.metrics.get("learning_curve", []):
            curve.append(f"| {r.design.spec} | {point['children']:,} | {point['test_rows']:,} | {point['auroc']:.3f} | "
                         f"{point.get('expected_auroc', float('nan')):.3f} |")
    quality += curve
    print(json.dumps({"name": "quality", "seconds": round(time.perf_counter() - started, 1), "target_seconds": 3600,
                      "lists": result, "quality": quality,
                      "note": f"targeting quality on a {MEMBERS:,}-member synthetic plan; see the table below"}))


if __name__ == "__main__":
    main()
