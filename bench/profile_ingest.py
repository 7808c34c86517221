"""Where ingest's time goes: CPU and wall seconds per phase and table for a few delivery months.

    .venv/bin/python bench/profile_ingest.py 2024-05 2024-06 2024-07

Ingests the given months of the benchmark plan (``bench/work/plan500k``, made by
``bench_synth.py``) into a scratch workspace and prints, per ingest phase and table, the CPU
seconds (both cores count) and wall seconds, per month; ``floor_ingest.py`` gives the least the
same files can cost. On a shared machine compare CPU seconds, and compare runs made back to back.

The phases are timed by wrapping the ingest module's own functions (it runs unchanged inside);
this is a diagnostic, not a benchmark: bench_ingest.py is what RESULTS.md reports.
"""

from __future__ import annotations

import argparse
import functools
import os
import shutil
import time
from collections import defaultdict
from pathlib import Path

from riskstrat.config import IngestSettings
from riskstrat.ingest import run
from riskstrat.ingest.checks import billable_icd10cm
from riskstrat.ingest.contracts import Contract
from riskstrat.ingest.validate import Validator

WORK = Path(__file__).resolve().parent / "work"
#: the ingest functions that make up a table's ingest, in the order they run
PHASES = ("build_typed", "build_checks", "gx_frame", "validate", "_ingest_table")


def timed(totals: dict, phase: str, fn):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        table = next((a.table for a in (*args, *kwargs.values()) if isinstance(a, Contract)), "")
        c0, w0 = time.process_time(), time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            entry = totals[(phase, table)]
            entry[0] += time.process_time() - c0
            entry[1] += time.perf_counter() - w0

    return wrapper


def profile(plan: Path, months: list[str], scratch: Path) -> None:
    shutil.rmtree(scratch, ignore_errors=True)
    (scratch / "landing").mkdir(parents=True)
    for m in months:
        os.symlink((plan / "landing" / m).resolve(), scratch / "landing" / m)
    billable_icd10cm()  # the code list and Great Expectations' import are one-off costs
    import great_expectations  # noqa: F401

    totals: dict = defaultdict(lambda: [0.0, 0.0])
    for name in PHASES:
        owner = Validator if name == "validate" else run
        setattr(owner, name, timed(totals, name, getattr(owner, name)))
    c0, w0 = time.process_time(), time.perf_counter()
    report = run.ingest_workspace(scratch, settings=IngestSettings())
    cpu, wall = time.process_time() - c0, time.perf_counter() - w0
    n = len(months)
    print(f"ingest: {cpu / n:.2f} CPU s, {wall / n:.2f} s wall per month; {report.totals()['rows_in'] / n:,.0f} rows a month")
    print(f"{'phase':16s} {'table':16s} {'CPU s':>7s} {'wall s':>7s}   (per month)")
    for (phase, table), (c, w) in sorted(totals.items(), key=lambda kv: (PHASES.index(kv[0][0]), -kv[1][0])):
        print(f"{phase:16s} {table:16s} {c / n:7.2f} {w / n:7.2f}")
    outside = cpu - sum(c for (phase, _), (c, _w) in totals.items() if phase == "_ingest_table")
    print(f"{'outside tables':33s} {outside / n:7.2f}   (state from month to month, ledger, GX contexts, Data Docs)")

    shutil.rmtree(scratch, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("months", nargs="+", help="Delivery months of the plan, YYYY-MM, in order.")
    parser.add_argument("--plan", type=Path, default=WORK / "plan500k")
    parser.add_argument("--scratch", type=Path, default=WORK / "profile_ingest")
    args = parser.parse_args()
    profile(args.plan, args.months, args.scratch)


if __name__ == "__main__":
    main()
