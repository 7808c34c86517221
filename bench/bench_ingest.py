"""Benchmark: ingest and validate a state-sized synthetic plan (500k members x 36 months).

Reuses the synth benchmark's plan at bench/work/plan500k when it is there (else generates it),
ingests its landing/ into a fresh workspace (bench/work/ingest500k, landing/ linked, not copied)
and measures wall time and peak memory. Prints progress to stderr and, on its LAST stdout line,
one JSON object that bench/run.py reads:
{"name": ..., "seconds": ..., "target_seconds": 180, "peak_rss_mb": ..., "target_rss_mb": 4096, ...}.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sys
import time
from pathlib import Path

from common import stderr_progress  # bench/ is the script's folder, first on sys.path

from riskstrat.config import IngestSettings
from riskstrat.ingest import ingest_workspace
from riskstrat.synth import PlanSpec, generate_plan

TARGET_SECONDS = 180
TARGET_RSS_MB = 4096


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    work = Path(__file__).parent / "work"
    parser.add_argument("--plan", type=Path, default=work / "plan500k", help="Synthetic plan to ingest (made if absent).")
    parser.add_argument("--work", type=Path, default=work / "ingest500k", help="Workspace to ingest into (emptied first).")
    parser.add_argument("--members", type=int, default=500_000)
    parser.add_argument("--months", type=int, default=36)
    args = parser.parse_args()

    if not (args.plan / "landing").is_dir():

        print(f"generating {args.plan} ...", file=sys.stderr, flush=True)
        generate_plan(args.plan, PlanSpec(members=args.members, months=args.months, end="2025-11", seed=1, defect_rate=0.0))
    if args.work.exists():
        shutil.rmtree(args.work)
    args.work.mkdir(parents=True)
    os.symlink((args.plan / "landing").resolve(), args.work / "landing")

    progress = stderr_progress()
    t0 = time.perf_counter()
    report = ingest_workspace(args.work, settings=IngestSettings(), progress=progress)
    seconds = time.perf_counter() - t0
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    totals = report.totals()
    slowest = sorted(report.tables, key=lambda t: -t.seconds)[:3]
    for t in slowest:
        print(f"slowest: {t.delivery_month} {t.table} {t.rows_in} rows {t.seconds:.1f} s", file=sys.stderr)
    print(json.dumps({
        "name": f"ingest + validation {args.members // 1000}k members x {len(report.months)} months",
        "seconds": round(seconds, 1), "target_seconds": TARGET_SECONDS,
        "peak_rss_mb": round(peak_mb), "target_rss_mb": TARGET_RSS_MB,
        "months": len(report.months), "problems": len(report.problems()), **totals,
    }))


if __name__ == "__main__":
    main()
