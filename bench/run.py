"""Run every benchmark at state scale and write bench/RESULTS.md.

Each ``bench/bench_<stage>.py`` does one stage's work in its own process and prints, on its
last stdout line, a JSON object with at least ``name``, ``seconds`` and ``target_seconds``.
This runner measures that process's peak memory itself (``os.wait4`` gives the child's own
``ru_maxrss``), so no benchmark can under-report what it used. Stages run in data-flow order
because each reuses the workspace the one before it built under ``bench/work/``.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ORDER = ["synth", "ingest", "features", "train", "retrain", "monthly", "app", "score", "engines", "quality", "evaluation"]
MEMORY_TARGET_MB = 4096


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{cpu}, {os.cpu_count()} cores, {mem_gb:.0f} GiB RAM, {platform.system()} {platform.release()}, Python {platform.python_version()}"


def run_stage(script: Path) -> dict:
    """Run one benchmark in its own process; its stdout goes to a file so that the child can be
    reaped with ``os.wait4``, which returns that child's own peak RSS."""
    log = HERE / "work" / f"{script.stem}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w") as out:
        proc = subprocess.Popen([sys.executable, str(script)], stdout=out, cwd=HERE.parent)
        _, status, usage = os.wait4(proc.pid, 0)
    lines = [line for line in log.read_text().splitlines() if line.strip()]
    if os.waitstatus_to_exitcode(status) != 0 or not lines:
        return {"name": script.stem, "error": f"exit {os.waitstatus_to_exitcode(status)}, see {log}"}
    result = json.loads(lines[-1])
    result["peak_rss_mb"] = round(usage.ru_maxrss / 1024)  # Linux reports KiB
    return result


def main() -> None:
    scripts = [HERE / f"bench_{stage}.py" for stage in ORDER if (HERE / f"bench_{stage}.py").exists()]
    results = []
    for script in scripts:
        print(f"running {script.name} ...", flush=True)
        result = run_stage(script)
        results.append(result)
        print(json.dumps(result), flush=True)
    write_results(results)


def write_results(results: list[dict]) -> None:
    today = dt.date.today().isoformat()
    lines = [
        "# Benchmarks",
        "",
        f"Measured {today} on {machine()}.",
        "Run with `make bench` (bench/run.py). Peak memory is the benchmark process's own maximum resident set.",
        "",
        "| benchmark | seconds | target s | peak RSS MB | target MB | verdict |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for r in results:
        if "error" in r:
            lines.append(f"| {r['name']} | failed ({r['error']}) | | | | FAIL |")
            continue
        peak = r["peak_rss_mb"]
        ok_time = r["target_seconds"] is None or r["seconds"] <= r["target_seconds"]
        ok_mem = peak <= MEMORY_TARGET_MB
        verdict = ("measured" if r["target_seconds"] is None else "pass") if ok_time and ok_mem else "FAIL"
        lines.append(
            f"| {r['name']} | {r['seconds']:.1f} | {r['target_seconds'] or '-'} | {peak} | {MEMORY_TARGET_MB} | {verdict} |"
        )
    # What each figure was measured on matters as much as the figure (a generated lake or frame
    # rather than one ingested from the synthetic plan), so every such field is carried over.
    notes = [f"- {r['name']}: {r[key]}" for r in results for key in ("mode", "lake", "note") if r.get(key)]
    if notes:
        lines += ["", "Notes:", *notes]
    for r in results:
        if r.get("quality"):
            lines += ["", "## Targeting quality", "", *r["quality"]]
        if r.get("section"):
            lines += ["", *r["section"]]
    (HERE / "RESULTS.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
