"""Benchmark: train every model specification as of 2025-11 on the 500k-member plan's real ingested lake
(target: 5 minutes, 4 GB).

The lake is the one the ingest benchmark leaves in ``bench/work/ingest500k`` (36 monthly deliveries
of the synthetic 500k-member plan, ingested by riskstrat). This is
:func:`riskstrat.model.train.train_models` on it: the as-of months' features (from the feature
store) and labels (one pass) stacked once for every specification, cross-fitted, evaluated and
registered. Without that lake the benchmark fails and says so: a generated frame would not
measure what the target is about. The last stdout line is the JSON result bench/run.py reads.

    python bench/bench_train.py            first training: the feature store is emptied first, so
                                           every as-of month's features are built from the claims
    python bench/bench_train.py retrain    a monthly retrain: the store holds the months earlier
                                           runs built (run the first one before it)
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import sys
import time
from pathlib import Path

from riskstrat.config import Settings
from riskstrat.core.workspace import FEATURE_STORE, MODELS
from riskstrat.model.train import train_models

ROOT = Path(__file__).resolve().parents[1]
AS_OF = "2025-11"
TARGET_SECONDS = 300
LAKE = ROOT / "bench" / "work" / "ingest500k"


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
    retrain = sys.argv[1:] == ["retrain"]
    name = "retrain: every specification, feature store filled" if retrain else "train: every specification, from the claims"
    if not (LAKE / "lake").is_dir():
        print(json.dumps({"name": name, "seconds": float("inf"), "target_seconds": TARGET_SECONDS,
                          "note": f"no ingested lake at {LAKE}: run bench/bench_ingest.py first"}))
        return
    shutil.rmtree(LAKE / MODELS, ignore_errors=True)  # every run trains from an empty registry
    stored = len(list((LAKE / FEATURE_STORE).glob("as_of=*/features.parquet")))
    if not retrain:
        shutil.rmtree(LAKE / FEATURE_STORE, ignore_errors=True)
    started = time.perf_counter()
    results = train_models(LAKE, AS_OF, settings, progress=log_progress())
    seconds = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_SELF)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    d = results[0].design
    print(json.dumps({
        "name": name,
        "seconds": round(seconds, 1),
        "target_seconds": TARGET_SECONDS,
        "mode": f"train_models on the ingested lake {LAKE.relative_to(ROOT)}: every specification",
        "as_of_months": len(d.fit_months),
        "models": {r.design.spec: {"rows": int(r.attrition.set_index("step").loc["registered model: learned from", "rows"]),
                                   "trees": r.best_iteration, "test_auroc": round(r.metrics["model"]["auroc"], 4),
                                   "learning_curve": [{k: (round(v, 4) if isinstance(v, float) else v) for k, v in point.items()}
                                                      for point in r.metrics.get("learning_curve", [])],
                                   "seconds": {k: round(v, 1) for k, v in r.seconds.items()}} for r in results},
        # On a shared machine wall time measures the neighbours too; CPU time and load say how much.
        "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 1),
        "load_average_at_end": None if load is None else round(load, 1),
        "note": (f"{len(results)} specifications, as-of months {d.fit_months[0]}..{d.fit_months[-1]} stacked once and "
                 "shared; " + (f"{stored} months' features read from the feature store" if retrain
                              else "every month's features built from the claims (feature store emptied first)")),
    }))


if __name__ == "__main__":
    main()
