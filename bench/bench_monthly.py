"""Benchmark: the monthly job of a 500k-member plan with 35 months in its lake, as the 36th arrives
(target: 5 minutes, 4 GB).

The workspace is the ingest benchmark's plan (``bench/work/ingest500k``) with its last delivery,
2025-11, taken out of the lake again, and the models the training benchmark registered there. The
Prefect monthly flow then does what it does every month: ingests and validates 2025-11, builds
its features, checks each champion's drift, retrains a list if that is due, scores and explains
every list, and publishes. Setting the workspace up (hard links, so it costs no disk) is not
timed. The last stdout line is the JSON result bench/run.py reads.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "bench" / "work" / "ingest500k"
WORK = ROOT / "bench" / "work" / "monthly500k"
MONTH = "2025-11"
TARGET_SECONDS = 300
NAME = "monthly job: 500k members, 36th month arriving"


def link_tree(source: Path, target: Path, skip: str) -> None:
    """``target`` as hard links to ``source``'s files, leaving out paths that contain ``skip``."""
    for path in sorted(source.rglob("*")):
        if path.is_file() and skip not in path.as_posix():
            dest = target / path.relative_to(source)
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.link(path, dest)


def setup() -> None:
    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir(parents=True)
    (WORK / "landing").symlink_to(SOURCE / "landing")
    link_tree(SOURCE / "lake", WORK / "lake", skip=f"delivery_month={MONTH}")
    ledger = WORK / "lake" / "_deliveries.parquet"
    ledger.unlink()
    rows = pd.read_parquet(SOURCE / "lake" / "_deliveries.parquet")
    rows[rows["delivery_month"] != MONTH].to_parquet(ledger, index=False)
    if (SOURCE / "quarantine").is_dir():
        link_tree(SOURCE / "quarantine", WORK / "quarantine", skip=f"delivery_month={MONTH}")
    link_tree(SOURCE / "models", WORK / "models", skip="\0")


def main() -> None:
    if not (SOURCE / "models" / "champion.json").is_file():
        print(json.dumps({"name": NAME, "seconds": float("inf"), "target_seconds": TARGET_SECONDS,
                          "note": f"no trained models in {SOURCE}: run bench/bench_train.py first"}))
        return
    setup()
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "CRITICAL")
    from riskstrat.flows.monthly import monthly  # Prefect reads the settings above when imported

    started = time.perf_counter()
    summary = monthly(str(WORK), MONTH)
    seconds = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_SELF)
    steps = {s["name"]: s.get("seconds") for s in summary.get("steps", [])}
    print(json.dumps({
        "name": NAME, "seconds": round(seconds, 1), "target_seconds": TARGET_SECONDS,
        "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 1), "steps": steps, "retrain": summary.get("retrain"),
        "failure": summary.get("failure"),
        "mode": (f"the Prefect monthly flow for {MONTH} on {WORK.relative_to(ROOT)}: 35 months in the lake, {MONTH} "
                 "ingested and validated, features, drift of each champion, every list scored, explained and published"),
    }, default=str))


if __name__ == "__main__":
    main()
