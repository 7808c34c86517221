"""Benchmark: score + explain + publish one month for 500k children (target: 60 s, 4 GB).

When ``bench/work/plan500k`` (or ``bench/work/plan``) holds an ingested lake and a champion
model, this runs :func:`riskstrat.publish.month.score_month` on it and reports the time without the
feature build (``bench_features.py`` measures that) as well as the total. Otherwise it builds a
synthetic month of the same shape — 500k children with every declared feature, households of
one to four siblings, contact details, a care-management snapshot, last ED visits, last month's
scores — and a LightGBM model of the production shape (``ModelSettings`` trees and leaves,
trained on 100k of those rows), then times :func:`score_population` + :func:`publish_month`
into ``bench/work/score_synthetic``. Building the synthetic inputs is not timed. The JSON says
which mode ran. The last stdout line is the JSON result bench/run.py reads.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import time
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd

from riskstrat.config import ScoringSettings, Settings, load_settings
from riskstrat.features import FEATURES, feature_names
from riskstrat.model.calibration import PlattCalibrator
from riskstrat.model.matrix import feature_matrix, model_features
from riskstrat.model.registry import RegisteredModel
from riskstrat.model.train import lightgbm_params
from riskstrat.publish.month import score_month
from riskstrat.publish.outputs import publish_month
from riskstrat.scoring.month import MonthInputs, score_population
from riskstrat.scoring.programs import load_programs
from riskstrat.synth.frames import feature_frame

ROOT = Path(__file__).resolve().parents[1]


CHILDREN = 500_000
AS_OF = "2025-11"
TARGET_SECONDS = 60
CAPACITY = 5000  # 1% of a state's children: a generous outreach month, and 5,000 exact SHAP rows
WORK = ROOT / "bench" / "work"


def find_workspace() -> Path | None:
    for name in ("plan500k", "plan"):
        ws = WORK / name
        if (ws / "lake" / "eligibility").exists() and (ws / "models" / "champion.json").exists():
            return ws
    return None


def synthetic_features(n: int, rng: np.random.Generator) -> tuple[pd.DataFrame, np.ndarray]:
    frame = feature_frame(n, rng)
    latent = frame.pop("_latent").to_numpy()
    logit = -3.0 + 0.6 * latent + 0.4 * np.log1p(frame["ed_visits_12m"]) + 0.5 * frame["dx_suicidal_ideation_12m"]
    label = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return frame, label


def synthetic_model(frame: pd.DataFrame, label: np.ndarray, settings: Settings):
    specs = model_features(FEATURES)
    params = lightgbm_params(settings.model, specs)
    train = slice(0, 100_000)
    X = feature_matrix(frame.iloc[train], specs)
    booster = lgb.train(params, lgb.Dataset(X, label[train]), num_boost_round=settings.model.max_trees)
    calib = slice(100_000, 150_000)
    raw = booster.predict(feature_matrix(frame.iloc[calib], specs), raw_score=True)
    calibrator = PlattCalibrator().fit(raw, label[calib])
    return RegisteredModel(model_id="m-bench-synthetic", path=None, booster=booster, calibrator=calibrator,
                           features=specs, design=None, metrics={}, manifest={})


def synthetic_inputs(rng: np.random.Generator, settings: Settings):
    frame, label = synthetic_features(CHILDREN, rng)
    model = synthetic_model(frame, label, settings)
    ids = frame["person_id"].to_numpy()
    # Households of 1-4 children: consecutive ids share a subscriber.
    sizes = rng.choice([1, 2, 3, 4], size=CHILDREN, p=[0.45, 0.3, 0.17, 0.08])
    household = np.repeat(np.arange(CHILDREN), sizes)[:CHILDREN]
    members = pd.DataFrame({
        "person_id": ids, "member_id": np.char.add("M", ids.astype(str)),
        "subscriber_id": np.char.add("S", household.astype(str)),
        "first_name": rng.choice(["Ana", "Ben", "=cmd|' /C calc'!A0", "Dee", "Eli"], CHILDREN),
        "last_name": rng.choice(["Lee", "Diaz", "+Kim", "Ng"], CHILDREN),
        "birth_date": "2012-05-01", "phone": "555-0100", "address": "1 Main St", "city": "Springfield",
        "state": "IL", "zip_code": "62701",
    })
    pick = rng.choice(CHILDREN, 25_000, replace=False)
    cm = pd.DataFrame({
        "person_id": ids[pick], "program": rng.choice(["cares", "stronger_together", "wraparound"], len(pick)),
        "status": rng.choice(["enrolled", "declined", "unable_to_reach", "referred", "discharged"], len(pick)),
        "status_date": pd.to_datetime("2024-06-01") + pd.to_timedelta(rng.integers(0, 540, len(pick)), unit="D"),
    })
    ed = rng.choice(CHILDREN, 150_000, replace=False)
    last_ed = pd.DataFrame({"person_id": ids[ed],
                            "last_ed_visit": pd.to_datetime("2024-12-01") + pd.to_timedelta(rng.integers(0, 360, len(ed)), unit="D")})
    previous = pd.DataFrame({"person_id": pd.array(ids, dtype="string"), "flagged": rng.random(CHILDREN) < 0.01,
                             "score": rng.random(CHILDREN) * 0.2, "tier": "standard", "suppressed": False})
    deliveries = pd.DataFrame([{"table": t, "delivery_month": AS_OF, "file": f"{t}.csv.gz", "status": "accepted",
                                "rows_in": 1000, "rows_accepted": 990, "rows_quarantined": 10, "rule_counts": "{}"}
                               for t in ("eligibility", "medical_claim", "pharmacy_claim", "ed_visit")])
    return MonthInputs(as_of=AS_OF, features=frame, model=model, members=members, care_management=cm,
                       last_ed=last_ed, deliveries=deliveries, previous=previous,
                       attrition=[("aged 0-20 on that day (the scored population)", CHILDREN)])


def run_synthetic() -> dict:
    settings = Settings(scoring=ScoringSettings(capacity=CAPACITY))
    rng = np.random.default_rng(20261123)
    inputs = synthetic_inputs(rng, settings)
    workspace = WORK / "score_synthetic"
    shutil.rmtree(workspace, ignore_errors=True)
    workspace.mkdir(parents=True)
    programs = load_programs()
    timings: dict[str, float] = {}
    t0, c0 = time.perf_counter(), time.process_time()
    month = score_population(inputs, settings.scoring, programs, timings=timings)
    out = publish_month(workspace, month, inputs, settings, timings)
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    return {
        "mode": "synthetic 500k month (no ingested plan with a champion in bench/work); inputs built untimed",
        "seconds": round(seconds, 2), "cpu_seconds": round(cpu, 2), "children": int(month.counts["scored"]), "flagged": month.counts["flagged"],
        "features": len(feature_names()), "trees": int(inputs.model.booster.current_iteration()),
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
        "cpu_seconds_with_features": round(cpu, 2),
        "children": result.counts["scored"], "flagged": result.counts["flagged"], "steps": result.timings,
    }


def main() -> None:
    ws = find_workspace()
    result = run_workspace(ws) if ws else run_synthetic()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    print(json.dumps({"name": "score", **result, "target_seconds": TARGET_SECONDS, "self_peak_rss_mb": round(peak),
                      "load_average_1m": load}))


if __name__ == "__main__":
    main()
