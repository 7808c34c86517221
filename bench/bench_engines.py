"""Benchmark: one month's features and scoring on DuckDB and on Spark local[2], side by side (issue #19).

The plan is the ingested 500k-member lake of bench_ingest.py (``bench/work/ingest500k``, 36 months)
with the champions bench_retrain.py registered there. For each engine, in a process of its own:

- features: the feature table of 2025-11 built from the lake (DuckDB: ``build_features``; Spark:
  ``build_features_spark``, the same SQL transpiled), nothing read from or written to the store;
- scoring: ``score_population`` of every list on that table (the booster's predictions and the
  flagged children's SHAP values on the engine), nothing published.

Memory: the driver process's own peak resident set (``VmHWM``), and on Spark also the peak resident set of the
JVM and of each Python worker it started (``VmHWM`` in /proc), read before the session stops. Spark's
figure is their sum: an upper bound, since the peaks need not coincide.

The two runs' feature tables, scores and SHAP values are compared here; the JSON says how far apart
they are (they are expected equal). The last stdout line is the JSON result bench/run.py reads.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "bench" / "work"
WS = WORK / "ingest500k"
OUT = WORK / "engines"
AS_OF = "2025-11"
SPARK_CONF = {"spark.driver.memory": "3g", "spark.sql.shuffle.partitions": "8"}


def _peak_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _descendants(pid: int) -> list[int]:
    children = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def run_engine(engine: str) -> dict:
    from riskstrat.config import load_settings
    from riskstrat.features import build_features
    from riskstrat.scoring.month import gather_inputs, score_population

    settings = load_settings(WS).on_engine(engine)
    out = {"engine": engine}
    spark = None
    t0 = time.perf_counter()
    if engine == "spark":
        from riskstrat.features.spark import build_features_spark, session

        settings = settings.model_copy(update={"engine": settings.engine.model_copy(
            update={"spark_master": "local[2]", "spark_conf": SPARK_CONF})})
        spark = session("local[2]", SPARK_CONF)
        out["session_seconds"] = round(time.perf_counter() - t0, 1)
        t0 = time.perf_counter()
        features = build_features_spark(spark, WS, AS_OF, settings)
    else:
        features = build_features(WS, AS_OF, settings)
    out["features_seconds"] = round(time.perf_counter() - t0, 1)
    inputs = gather_inputs(WS, AS_OF, settings, features=features)
    t0 = time.perf_counter()
    month = score_population(inputs, settings)
    out["scoring_seconds"] = round(time.perf_counter() - t0, 1)
    OUT.mkdir(parents=True, exist_ok=True)
    features.to_parquet(OUT / f"features_{engine}.parquet")
    month.scores[["list", "person_id", "score", "rank", "flagged"]].to_parquet(OUT / f"scores_{engine}.parquet")
    month.explanations.to_parquet(OUT / f"explanations_{engine}.parquet")
    out["driver_peak_mb"] = round(_peak_mb(os.getpid()))  # this process alone: wait4 may fold the JVM in
    out["children"] = int(len(features))
    out["scored_rows"] = int(len(month.scores))
    out["shap_rows"] = int(len(month.explanations))
    if spark is not None:
        jvm = int(spark.sparkContext._jvm.java.lang.ProcessHandle.current().pid())
        workers = _descendants(jvm)
        out["jvm_peak_mb"] = round(_peak_mb(jvm))
        out["python_workers"] = len(workers)
        out["python_workers_peak_mb"] = round(sum(_peak_mb(p) for p in workers))
        spark.stop()
    return out


def _measured(engine: str) -> dict:
    log = WORK / f"bench_engines_{engine}.log"
    with log.open("w") as fh:
        proc = subprocess.Popen([sys.executable, __file__, engine], stdout=fh, cwd=ROOT)
        _, status, _ = os.wait4(proc.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"the {engine} run failed, see {log}")
    return json.loads(log.read_text().strip().splitlines()[-1])


def _compare() -> dict:
    import numpy as np
    import pandas as pd

    def read(kind: str) -> tuple[pd.DataFrame, pd.DataFrame]:
        return pd.read_parquet(OUT / f"{kind}_duckdb.parquet"), pd.read_parquet(OUT / f"{kind}_spark.parquet")

    duck, ours = read("features")
    values = duck.columns[1:]
    scores_duck, scores_ours = read("scores")
    shap_duck, shap_ours = read("explanations")
    return {
        "same_children_and_columns": bool(duck["person_id"].equals(ours["person_id"]) and list(duck.columns) == list(ours.columns)),
        "same_dtypes": list(map(str, duck.dtypes)) == list(map(str, ours.dtypes)),
        "features_max_abs_difference": float(np.nanmax(np.abs(duck[values].to_numpy(float) - ours[values].to_numpy(float)))),
        "scores_identical": bool(scores_duck.equals(scores_ours)),
        "shap_identical": bool(shap_duck.equals(shap_ours)),
    }


def main() -> None:
    runs = {engine: _measured(engine) for engine in ("duckdb", "spark")}
    compared = _compare()
    d, s = runs["duckdb"], runs["spark"]
    spark_total_mb = s["driver_peak_mb"] + s["jvm_peak_mb"] + s["python_workers_peak_mb"]
    section = [
        "## Features and scoring on DuckDB and on Spark",
        "",
        f"One month ({AS_OF}) of the ingested 500k-member lake ({d['children']:,} children, three lists, "
        f"{d['shap_rows']:,} SHAP rows), each engine in its own process on this machine (bench/bench_engines.py).",
        "",
        "| engine | session start s | features s | scoring s | driver peak MB | JVM peak MB | Python workers peak MB | total MB |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
        f"| DuckDB | - | {d['features_seconds']} | {d['scoring_seconds']} | {d['driver_peak_mb']} | - | - | {d['driver_peak_mb']} |",
        f"| Spark local[2] | {s['session_seconds']} | {s['features_seconds']} | {s['scoring_seconds']} | {s['driver_peak_mb']} | "
        f"{s['jvm_peak_mb']} | {s['python_workers_peak_mb']} ({s['python_workers']} processes) | {spark_total_mb} |",
        "",
        f"Same children and columns: {compared['same_children_and_columns']}; same types: {compared['same_dtypes']}; "
        f"largest feature difference {compared['features_max_abs_difference']:.3g}; scores identical: "
        f"{compared['scores_identical']}; SHAP values identical: {compared['shap_identical']}.",
    ]
    print(json.dumps({
        "name": f"features + scoring of one 500k month on Spark local[2] (DuckDB: {d['features_seconds'] + d['scoring_seconds']:.1f} s)",
        "seconds": s["session_seconds"] + s["features_seconds"] + s["scoring_seconds"], "target_seconds": None,
        "runs": runs, "compared": compared, "section": section,
    }))


if __name__ == "__main__":
    if len(sys.argv) > 1:
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        print(json.dumps(run_engine(sys.argv[1])))
    else:
        main()
