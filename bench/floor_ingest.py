"""The least time any ingest that keeps the lake's shape can take on this machine.

    .venv/bin/python bench/floor_ingest.py [--processes 2]

Every delivery file of the benchmark plan (``bench/work/plan500k``, made by ``bench_synth.py``)
is read, typed by ingest's own SQL (:func:`riskstrat.ingest.read.typed_select`) and written as its
lake partition in one COPY. Nothing else: no checks, no Great Expectations, no quarantine, no
state from month to month, no ledger, no atomic commit. The months are shared out among
``--processes`` processes run at once, so the cores are as busy as DuckDB can keep them.

An ingest that also validates can only be slower than this, by at least the CPU seconds of its
validation divided among the cores; DEVELOPERS.md ("Ingest at state scale") sets the two side
by side against the 180 s target. A diagnostic, not a benchmark: bench_ingest.py is what
RESULTS.md reports.
"""

from __future__ import annotations

import argparse
import os
import shutil
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import duckdb

from riskstrat.config import IngestSettings
from riskstrat.core.workspace import landing_months
from riskstrat.ingest.contracts import load_contracts
from riskstrat.ingest.read import find_delivery_files, raw_source, typed_select
from riskstrat.ingest.run import PARQUET

WORK = Path(__file__).resolve().parent / "work"


def type_and_write(months: list[str], plan: Path, scratch: Path) -> float:
    """Type and write every table of ``months``; returns this process's CPU seconds."""
    settings = IngestSettings()
    contracts = load_contracts(settings.contracts_dir)
    con = duckdb.connect(config={"threads": settings.threads, "memory_limit": settings.memory_limit})
    for month in months:
        files, _ = find_delivery_files(plan / "landing" / month)
        for table, path in files.items():
            source, present = raw_source(con, path)
            select = typed_select(contracts[table], source, present, path)
            target = scratch / f"{table}-{month}.parquet"
            con.execute(f"COPY ({select}) TO '{target}' ({PARQUET})")
    con.close()
    return time.process_time()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--plan", type=Path, default=WORK / "plan500k")
    parser.add_argument("--scratch", type=Path, default=WORK / "floor_ingest")
    args = parser.parse_args()
    months = landing_months(args.plan)
    shutil.rmtree(args.scratch, ignore_errors=True)
    args.scratch.mkdir(parents=True)
    shares = [months[i :: args.processes] for i in range(args.processes)]
    t0 = time.perf_counter()
    with ProcessPoolExecutor(args.processes) as pool:
        cpu = sum(pool.map(type_and_write, shares, [args.plan] * len(shares), [args.scratch] * len(shares)))
    wall = time.perf_counter() - t0
    shutil.rmtree(args.scratch, ignore_errors=True)
    print(f"{len(months)} months in {args.processes} processes: {wall:.1f} s wall, {cpu:.1f} CPU s "
          f"({cpu / len(months):.2f} CPU s a month)")


if __name__ == "__main__":
    main()
