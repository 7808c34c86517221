"""Benchmark: generate a state-sized synthetic plan (500k members x 36 months).

Prints progress to stderr and, on its LAST stdout line, one JSON object that bench/run.py reads:
{"name": ..., "seconds": ..., "target_seconds": 300, "rows": {table: rows}}.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

from common import stderr_progress  # bench/ is the script's folder, first on sys.path

from riskstrat.synth import PlanSpec, generate_plan

TARGET_SECONDS = 300


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path(__file__).parent / "work" / "plan500k",
                        help="Workspace to generate into (emptied first).")
    parser.add_argument("--members", type=int, default=500_000)
    parser.add_argument("--months", type=int, default=36)
    args = parser.parse_args()
    if args.work.exists():
        shutil.rmtree(args.work)
    spec = PlanSpec(members=args.members, months=args.months, end="2025-11", seed=1, defect_rate=0.0)
    progress = stderr_progress()
    t0 = time.perf_counter()
    summary = generate_plan(args.work, spec, progress=progress)
    seconds = time.perf_counter() - t0
    rows = {name: n for name, n, _ in summary.table_rows()}
    print(json.dumps({"name": f"synth {args.members // 1000}k members x {args.months} months",
                      "seconds": round(seconds, 1), "target_seconds": TARGET_SECONDS, "rows": rows}))


if __name__ == "__main__":
    main()
