"""Benchmark: score, explain, audit and publish one month for 500k children on every list (target: 60 s, 4 GB).

When ``bench/work/plan500k`` (or ``bench/work/plan``) holds an ingested lake and champion models,
this runs :func:`riskstrat.publish.month.score_month` on it and reports the time without the
feature build (``bench_features.py`` measures that) as well as the total. Otherwise it scores the
lake ``bench_features.py`` generates (``bench/work/features_lake``, 500k children; generated if
missing): its feature table is built in a child process and kept beside it, untimed; each shipped
model specification gets a LightGBM model of the production shape (``ModelSettings`` trees and
leaves, trained on 100k of those rows with a synthetic label) with a study design and a drift
reference; contact details, households of one to four siblings, a care-management snapshot,
last ED visits and last month's scores on every list are made up. Timed:
:func:`score_population` (every list), :func:`audit_lists` (each list's month audit against the
lake: drift, fairness, monitoring) and :func:`publish_month`, into ``bench/work/score_synthetic``.
The general list takes ``CAPACITY`` children, the programmes their specifications' capacity.

The generated lake's diagnoses are drawn at random from the code sets, so the programmes'
population rules admit far more children than on a real plan (most children have a
behavioural-health code): the programme lists cost more here than they would. The JSON gives each
list's population. The last stdout line is the JSON result bench/run.py reads.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import lightgbm as lgb
import numpy as np
import pandas as pd

from riskstrat.audit.training import drift_reference
from riskstrat.config import ModelSettings, Settings, load_settings, specs_folder
from riskstrat.features import FEATURES, build_features
from riskstrat.model.calibration import PlattCalibrator
from riskstrat.model.design import StudyDesign
from riskstrat.model.matrix import feature_matrix, model_features
from riskstrat.model.registry import RegisteredModel
from riskstrat.model.specs import Specification, load_specs
from riskstrat.model.train import lightgbm_params
from riskstrat.publish.month import audit_lists, score_month
from riskstrat.publish.outputs import publish_month
from riskstrat.scoring.month import MonthInputs, score_population

ROOT = Path(__file__).resolve().parents[1]

AS_OF = "2025-11"  # the generated lake's last month (bench_features.END)
TARGET_SECONDS = 60
CAPACITY = 5000  # 1% of a state's children on the general list: a generous month, and 5,000 exact SHAP rows
WORK = ROOT / "bench" / "work"
LAKE = WORK / "features_lake"
FEATURES_FILE = WORK / "score_features.parquet"


def find_workspace() -> Path | None:
    for name in ("plan500k", "plan"):
        ws = WORK / name
        if (ws / "lake" / "eligibility").exists() and (ws / "models" / "champion.json").exists():
            return ws
    return None


def lake_features() -> pd.DataFrame:
    """The generated lake's feature table of AS_OF, built once in a child process (its memory and
    time are bench_features' to measure) and kept in FEATURES_FILE."""
    marker = LAKE / "lake" / "_generated.json"
    if not marker.exists():
        subprocess.run([sys.executable, str(ROOT / "bench" / "bench_features.py"), "--generate"], check=True,
                       stdout=sys.stderr)
    if not FEATURES_FILE.exists() or FEATURES_FILE.stat().st_mtime < marker.stat().st_mtime:
        subprocess.run([sys.executable, __file__, "--features"], check=True, stdout=sys.stderr)
    frame = pd.read_parquet(FEATURES_FILE)
    frame.attrs["as_of"] = AS_OF
    return frame


def write_features() -> None:
    build_features(LAKE, AS_OF).to_parquet(FEATURES_FILE)


def workspace_lake(workspace: Path) -> None:
    """The generated lake as ``workspace``'s, linked, not copied. AS_OF's eligibility snapshot gets
    what the generator leaves out and the audit reads: a zip_code (the fairness groups' region)
    and a line number per row (a child's groups are read from the row that describes them)."""
    source, lake = LAKE / "lake", workspace / "lake"
    (lake / "eligibility").mkdir(parents=True)
    for entry in source.iterdir():
        if entry.name != "eligibility":
            (lake / entry.name).symlink_to(entry, target_is_directory=entry.is_dir())
    for part in (source / "eligibility").iterdir():
        if part.name != f"delivery_month={AS_OF}":
            (lake / "eligibility" / part.name).symlink_to(part, target_is_directory=True)
    target = lake / "eligibility" / f"delivery_month={AS_OF}"
    target.mkdir()
    snapshot = source / "eligibility" / f"delivery_month={AS_OF}" / "part-0.parquet"
    duckdb.execute(f"COPY (SELECT * REPLACE (CAST(row_number() OVER () AS BIGINT) AS source_row), "
                   f"printf('%05d', 60000 + hash(person_id) % 2000) AS zip_code "
                   f"FROM read_parquet('{snapshot}', hive_partitioning = false)) "
                   f"TO '{target / 'part-0.parquet'}' (FORMAT parquet)")


def synthetic_model(frame: pd.DataFrame, spec: Specification, settings: Settings, rng: np.random.Generator):
    """A model of the production shape for ``spec``, with the design and drift reference scoring's audit reads."""
    logit = (-3.0 + 0.4 * np.log1p(frame["ed_visits_12m"]) + 0.5 * frame["dx_suicidal_ideation_12m"]
             + 0.3 * frame["pmca_class"] + rng.normal(0, 1, len(frame)))
    label = (rng.random(len(frame)) < 1 / (1 + np.exp(-logit))).to_numpy().astype(int)
    specs = model_features(FEATURES)
    params = lightgbm_params(settings.model, specs)
    train = slice(0, 100_000)
    booster = lgb.train(params, lgb.Dataset(feature_matrix(frame.iloc[train], specs), label[train]),
                        num_boost_round=settings.model.max_trees)
    calib = slice(100_000, 150_000)
    raw = booster.predict(feature_matrix(frame.iloc[calib], specs), raw_score=True)
    calibrator = PlattCalibrator().fit(raw, label[calib])
    design = StudyDesign.from_settings(AS_OF, settings.model, spec=spec.name)

    def predict(rows: pd.DataFrame) -> np.ndarray:
        return calibrator.predict(booster.predict(feature_matrix(rows, specs), raw_score=True))

    # The reference is kept month by month: spread the training rows over the design's months.
    rows = frame.iloc[train].assign(as_of=np.resize(np.asarray(design.fit_months), train.stop))
    reference = drift_reference(rows, [s.name for s in specs], predict)
    return RegisteredModel(model_id=f"m-bench-{spec.name}", path=None, booster=booster, calibrator=calibrator,
                           features=specs, design=design, metrics={}, manifest={}, drift_reference=reference)


def synthetic_inputs(frame: pd.DataFrame, rng: np.random.Generator, settings: Settings, workspace: Path) -> MonthInputs:
    specs = load_specs(workspace, settings)
    models = {s.name: synthetic_model(frame, s, settings.for_spec(s.spec), rng) for s in specs}
    ids = frame["person_id"].to_numpy()
    n = len(ids)
    # Households of 1-4 children: consecutive ids share a subscriber.
    sizes = rng.choice([1, 2, 3, 4], size=n, p=[0.45, 0.3, 0.17, 0.08])
    household = np.repeat(np.arange(n), sizes)[:n]
    members = pd.DataFrame({
        "person_id": ids, "member_id": np.char.add("M", ids.astype(str)),
        "subscriber_id": np.char.add("S", household.astype(str)),
        "first_name": rng.choice(["Ana", "Ben", "=cmd|' /C calc'!A0", "Dee", "Eli"], n),
        "last_name": rng.choice(["Lee", "Diaz", "+Kim", "Ng"], n),
        "birth_date": "2012-05-01", "phone": "555-0100", "address": "1 Main St", "city": "Springfield",
        "state": "IL", "zip_code": "62701",
    })
    pick = rng.choice(n, 25_000, replace=False)
    cm = pd.DataFrame({
        "person_id": ids[pick], "program": rng.choice(["cares", "stronger_together", "wraparound"], len(pick)),
        "status": rng.choice(["enrolled", "declined", "unable_to_reach", "referred", "discharged"], len(pick)),
        "status_date": pd.to_datetime("2024-06-01") + pd.to_timedelta(rng.integers(0, 540, len(pick)), unit="D"),
    })
    ed = rng.choice(n, 150_000, replace=False)
    last_ed = pd.DataFrame({"person_id": ids[ed],
                            "last_ed_visit": pd.to_datetime("2024-12-01") + pd.to_timedelta(rng.integers(0, 360, len(ed)), unit="D")})
    previous = pd.concat([pd.DataFrame({"list": s.name, "person_id": pd.array(ids, dtype="string"),
                                        "flagged": rng.random(n) < 0.01, "score": rng.random(n) * 0.2,
                                        "tier": "standard", "suppressed": False}) for s in specs], ignore_index=True)
    previous["list"] = previous["list"].astype("string")
    deliveries = pd.DataFrame([{"table": t, "delivery_month": AS_OF, "file": f"{t}.csv.gz", "status": "accepted",
                                "rows_in": 1000, "rows_accepted": 990, "rows_quarantined": 10, "rule_counts": "{}"}
                               for t in ("eligibility", "medical_claim", "pharmacy_claim", "ed_visit")])
    return MonthInputs(as_of=AS_OF, features=frame, specs=specs, models=models, members=members, care_management=cm,
                       last_ed=last_ed, deliveries=deliveries, previous=previous,
                       attrition=[("aged 0-20 on that day (the scored population)", n)])


def run_synthetic() -> dict:
    workspace = WORK / "score_synthetic"
    shutil.rmtree(workspace, ignore_errors=True)
    workspace.mkdir(parents=True)
    frame = lake_features()  # generates the lake if missing, before the workspace points at it
    workspace_lake(workspace)
    specs = workspace / "specs"
    specs.mkdir()
    for path in sorted(specs_folder(None).glob("*.yaml")):
        text = path.read_text(encoding="utf-8")
        if path.stem == "acute_event":
            text = text.replace("\ncapacity: 200\n", f"\ncapacity: {CAPACITY}\n")
        (specs / path.name).write_text(text, encoding="utf-8")
    settings = Settings(model=ModelSettings(specs_dir=str(specs)))
    inputs = synthetic_inputs(frame, np.random.default_rng(20261123), settings, workspace)
    timings: dict[str, float] = {}
    t0, c0 = time.perf_counter(), time.process_time()
    month = score_population(inputs, settings, timings=timings)
    scored = time.perf_counter() - t0
    audit_lists(workspace, month, settings, timings)
    audited = time.perf_counter() - t0 - scored
    out = publish_month(workspace, month, inputs, settings, timings)
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    return {
        "mode": "generated 500k lake (bench_features), synthetic models and month inputs built untimed; "
                "score + audit + publish timed",
        "seconds": round(seconds, 2), "cpu_seconds": round(cpu, 2), "score_seconds": round(scored, 2),
        "audit_seconds": round(audited, 2), "publish_seconds": round(seconds - scored - audited, 2),
        "children": int(month.counts["scored"]), "flagged": month.counts["flagged"],
        "lists": {ls.spec.name: {"population": ls.counts["scored"], "flagged": ls.counts["flagged"],
                            "audit_seconds": timings[f"audit_{ls.spec.name}"]} for ls in month.lists},
        "features": len(FEATURES), "trees": {n: int(m.booster.current_iteration()) for n, m in inputs.models.items()},
        "output_mb": round(sum(p.stat().st_size for p in out.iterdir()) / 2**20, 1), "steps": timings,
    }


def run_workspace(ws: Path) -> dict:
    t0, c0 = time.perf_counter(), time.process_time()
    result = score_month(ws, AS_OF, load_settings(ws))
    total, cpu = time.perf_counter() - t0, time.process_time() - c0
    features = result.timings.get("features", 0.0)
    return {
        "mode": f"score_month on {ws.relative_to(ROOT)}; seconds exclude the feature build (bench_features)",
        "seconds": round(total - features, 2), "total_seconds_with_features": round(total, 2),
        "cpu_seconds_with_features": round(cpu, 2), "children": result.counts["scored"],
        "flagged": result.counts["flagged"], "lists": result.counts["lists"], "steps": result.timings,
    }


def main() -> None:
    if sys.argv[1:] == ["--features"]:
        write_features()
        return
    ws = find_workspace()
    result = run_workspace(ws) if ws else run_synthetic()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    print(json.dumps({"name": "score", **result, "target_seconds": TARGET_SECONDS, "self_peak_rss_mb": round(peak),
                      "load_average_1m": load}))


if __name__ == "__main__":
    main()
