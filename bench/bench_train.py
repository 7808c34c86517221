"""Benchmark: train on 12 stacked as-of months of a 500k-child plan (target: 5 minutes, 4 GB).

When ``bench/work/plan`` holds an ingested plan (as-of 2025-11), this is
``riskstrat.model.train.train_model`` on it, features and labels built from the lake. Otherwise the same path runs from
the month-by-month collection onwards — collect, split, fit, calibrate, baselines, evaluate,
register with card — on a generated frame of the same shape (500k children a month, every
declared feature, float64 as the features stage returns it, a ~5% outcome), and the JSON says so.
The last stdout line is the JSON result bench/run.py reads.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from riskstrat.config import Settings
from riskstrat.features import FEATURES
from riskstrat.model.design import StudyDesign
from riskstrat.model.matrix import TrainError
from riskstrat.model.train import train_from_builder, train_model

ROOT = Path(__file__).resolve().parents[1]
# `bench_train.py 100000` runs a smaller plan (to profile on a busy machine); the target is for 500k.
CHILDREN = int(sys.argv[1]) if len(sys.argv) > 1 else 500_000
AS_OF = "2025-11"
TARGET_SECONDS = 300
PLAN = ROOT / "bench" / "work" / "plan"


def synthetic_month_builder(decls: list, seed: int = 11):
    """A function month -> frame: every child, every declared feature, with lasting per-child risk."""
    rng = np.random.default_rng(seed)
    latent = rng.normal(0, 1, CHILDREN)
    ids = pd.array([f"P{i:08d}" for i in range(CHILDREN)], dtype="string")
    names = [d.name for d in decls]
    loadings = rng.uniform(0, 0.8, len(names))
    timer = {"seconds": 0.0}

    def build(month: str) -> pd.DataFrame:
        t = time.perf_counter()
        cols = {"person_id": ids, "as_of": month}
        for name, load in zip(names, loadings):
            cols[name] = rng.poisson(np.exp(load * latent - 1.5)).astype("float64")
        logit = -3.4 + 0.9 * latent + 0.3 * np.log1p(cols[names[min(10, len(names) - 1)]])
        cols["label"] = (rng.random(CHILDREN) < 1 / (1 + np.exp(-logit))).astype("int64")
        frame = pd.DataFrame(cols)
        timer["seconds"] += time.perf_counter() - t
        return frame

    return build, timer


def _memory() -> str:
    status = Path("/proc/self/status")
    if not status.exists():
        return ""
    fields = dict(line.split(":", 1) for line in status.read_text().splitlines() if ":" in line)
    rss, peak = (int(fields.get(k, "0 kB").split()[0]) // 1024 for k in ("VmRSS", "VmHWM"))
    return f"rss {rss:5d} MB peak {peak:5d} MB"


def log_progress():
    """Progress to stderr with elapsed seconds, so a slow stage shows in the log."""
    t0 = time.perf_counter()
    last = {}

    def report(stage: str, done: int, total: int) -> None:
        if last.get("stage") != (stage, done):
            last["stage"] = (stage, done)
            print(f"{time.perf_counter() - t0:7.1f}s {_memory()} {stage} {done}/{total}", file=sys.stderr, flush=True)

    return report


def main() -> None:
    settings = Settings()
    progress = log_progress()
    started = time.perf_counter()
    result, mode, note, generation = None, "", "", 0.0
    if (PLAN / "lake").is_dir():
        try:
            result = train_model(PLAN, AS_OF, settings, progress=progress)
            mode = "train_model on bench/work/plan"
        except TrainError as exc:
            note = f"train_model on bench/work/plan not possible ({exc}); "
    if result is None:
        workspace = ROOT / "bench" / "work" / f"train_synthetic_{CHILDREN}"
        shutil.rmtree(workspace, ignore_errors=True)
        decls = list(FEATURES)
        design = StudyDesign.from_settings(AS_OF, settings.model)
        build, timer = synthetic_month_builder(decls)
        started = time.perf_counter()
        result = train_from_builder(workspace, build, decls, design, settings, progress=progress)
        generation = timer["seconds"]
        mode = "synthetic frame of the same shape"
        if not note:
            note = "no ingested plan at bench/work/plan; "
        note += ("benchmarked collect + split + fit + calibrate + baselines + "
                 f"evaluate + register on a generated frame ({CHILDREN:,} children x {len(design.all_months)} as-of months "
                 f"x {len(decls)} features); seconds include {generation:.0f} s generating it")
    seconds = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_SELF)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    d = result.design
    print(json.dumps({
        "name": "train",
        "seconds": round(seconds, 1),
        "target_seconds": TARGET_SECONDS,
        "mode": mode,
        "children_per_month": CHILDREN,
        "train_months": len(d.train_months),
        "as_of_months": len(d.all_months),
        "trees": result.best_iteration,
        "test_auroc": round(result.metrics["model"]["auroc"], 4),
        "stage_seconds": {k: round(v, 1) for k, v in result.seconds.items()},
        "generation_seconds": round(generation, 1),
        # On a shared machine wall time measures the neighbours too; CPU time and load say how much.
        "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 1),
        "load_average_at_end": None if load is None else round(load, 1),
        "note": note,
    }))


if __name__ == "__main__":
    main()
