"""What the audit reads from a workspace: a month's published outputs, the children's groups, SHAP.

The checks in :mod:`fairness`, :mod:`drift` and :mod:`monitoring` take frames; these functions
make those frames from ``outputs/YYYY-MM/`` (``../shared/spec/outputs.md``) and the lake
(``docs/lake.md``), so the audit notebook and the monthly report only call them. A file that is
missing or lacks a column fails with one line naming the file and the column.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

from riskstrat.audit.fairness import audit_groups
from riskstrat.provenance import sha256_file

SCORES_COLUMNS = ("person_id", "score", "flagged")
EXPLANATIONS_COLUMNS = ("person_id", "feature", "feature_value", "shap_value")


def output_months(workspace: Path | str) -> list[str]:
    """Months with a published ``outputs/YYYY-MM/scores.parquet``, oldest first."""
    root = Path(workspace) / "outputs"
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if (p / "scores.parquet").is_file() and len(p.name) == 7)


def _read(path: Path, columns: tuple[str, ...]) -> pd.DataFrame:
    if not path.is_file():
        raise FileNotFoundError(f"{path}: missing; score the month first (`riskstrat score`)")
    frame = pd.read_parquet(path)
    missing = [c for c in columns if c not in frame]
    if missing:
        raise ValueError(f"{path}: has no column {', '.join(missing)} (see outputs.md)")
    frame["person_id"] = frame["person_id"].astype("string")
    return frame


def read_scores(workspace: Path | str, month: str) -> pd.DataFrame:
    """``outputs/<month>/scores.parquet`` with ``flagged`` as 0/1."""
    scores = _read(Path(workspace) / "outputs" / month / "scores.parquet", SCORES_COLUMNS)
    scores["flagged"] = scores["flagged"].fillna(False).astype(bool).astype(int)
    return scores


def read_explanations(workspace: Path | str, month: str) -> pd.DataFrame:
    """``outputs/<month>/explanations.parquet`` (long: person_id, feature, feature_value, shap_value)."""
    return _read(Path(workspace) / "outputs" / month / "explanations.parquet", EXPLANATIONS_COLUMNS)


def scoring_model_id(workspace: Path | str, month: str, scores: pd.DataFrame | None = None) -> str | None:
    """The model that scored ``month``: scores.parquet's ``model_id``, else run.json's, else None (the champion).

    Auditing a month with a different model than the one that scored it would explain scores
    nobody published.
    """
    if scores is not None and "model_id" in scores and scores["model_id"].nunique() == 1:
        return str(scores["model_id"].iloc[0])
    run = Path(workspace) / "outputs" / month / "run.json"
    if run.is_file():
        manifest = json.loads(run.read_text(encoding="utf-8"))
        model = manifest.get("model_id") or manifest.get("model")
        if isinstance(model, dict):
            model = model.get("model_id") or model.get("id")
        return str(model) if model else None
    return None


def shap_matrices(explanations: pd.DataFrame, features: list[str] | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(SHAP values, feature values): children × features, in ``features`` order (default: as first seen).

    The wide shape is what ``shap.summary_plot`` and ``shap.dependence_plot`` take.
    """
    features = features or list(dict.fromkeys(explanations["feature"]))
    shap_values = explanations.pivot(index="person_id", columns="feature", values="shap_value").reindex(columns=features)
    values = explanations.pivot(index="person_id", columns="feature", values="feature_value").reindex(columns=features)
    return shap_values, values


def eligibility_snapshot(workspace: Path | str, month: str) -> pd.DataFrame:
    """One row per person in the eligibility snapshot delivered in ``month`` (their latest enrolment span)."""
    from riskstrat import lake

    con = lake.connect(workspace)
    try:
        frame = con.execute(
            """
            SELECT person_id,
                   arg_max(race, enrollment_start_date) AS race,
                   arg_max(ethnicity, enrollment_start_date) AS ethnicity,
                   arg_max(gender, enrollment_start_date) AS gender,
                   arg_max(birth_date, enrollment_start_date) AS birth_date,
                   arg_max(aid_category, enrollment_start_date) AS aid_category,
                   arg_max(zip_code, enrollment_start_date) AS zip_code
            FROM eligibility
            WHERE delivery_month = ?
            GROUP BY person_id
            ORDER BY person_id
            """,
            [month],
        ).df()
    finally:
        con.close()
    if frame.empty:
        raise ValueError(f"lake/eligibility: no snapshot delivered in {month}; ingest that month first")
    frame["person_id"] = frame["person_id"].astype("string")
    return frame


def month_groups(workspace: Path | str, month: str, ages: pd.DataFrame | None = None) -> pd.DataFrame:
    """``person_id`` and the fairness groups of every child in ``month``'s eligibility snapshot.

    ``ages`` (person_id, age) — e.g. the ``age`` of scores.parquet — is used where given, so the
    age band is the age the child was scored at; otherwise the age on the last day of the month.
    """
    snap = eligibility_snapshot(workspace, month)
    if ages is not None:
        age = ages[["person_id", "age"]].assign(person_id=lambda f: f["person_id"].astype("string"))
        snap = snap.merge(age, on="person_id", how="left")
    else:
        end = pd.Timestamp(f"{month}-01") + pd.offsets.MonthEnd(0)
        born = pd.to_datetime(snap["birth_date"])
        had_birthday = (born.dt.month < end.month) | ((born.dt.month == end.month) & (born.dt.day <= end.day))
        snap["age"] = end.year - born.dt.year - (~had_birthday).astype(int)
    return audit_groups(snap)


def flag_top(score, month, capacity: int) -> np.ndarray:
    """0/1: the top ``capacity`` scores of each month, as the outreach team would take them (ties by order)."""
    frame = pd.DataFrame({"score": np.asarray(score, dtype=float), "month": np.asarray(month)})
    rank = frame.groupby("month")["score"].rank(ascending=False, method="first")
    return (rank <= capacity).astype(int).to_numpy()


def held_out_frame(workspace: Path | str, model, settings) -> pd.DataFrame:
    """The model's test months rebuilt from the lake, with ``score``, ``flagged``, ``outcome`` and the groups.

    One row per child and test month (the children on the test side only, as at training).
    Flags take the top ``capacity × test_share`` per month: the test rows hold that share of the
    children, so this is as deep into the list as capacity goes into the whole plan's — the
    depth the registry's metrics use.
    """
    from riskstrat.labels import build_training_frame
    from riskstrat.train import person_sides

    months = list(model.design.test_months)
    frame = build_training_frame(workspace, months, outcome=model.design.outcome, settings=settings,
                                 runout_months=model.design.runout_months).frame
    frame = frame[person_sides(frame["person_id"], settings.model).to_numpy() == "test"].reset_index(drop=True)
    frame["score"] = model.predict_proba(frame)
    capacity = max(1, round(settings.scoring.capacity * settings.model.test_share))
    frame["flagged"] = flag_top(frame["score"], frame["as_of"], capacity)
    frame["outcome"] = frame["label"].astype(int)
    groups = pd.concat([month_groups(workspace, m).assign(as_of=m) for m in months], ignore_index=True)
    return frame.merge(groups, on=["person_id", "as_of"], how="left")


def scored_features(workspace: Path | str, month: str, model, settings, scores: pd.DataFrame | None = None) -> pd.DataFrame:
    """The feature table of ``month`` with a ``score`` column: the published score where given, else the model's.

    What drift compares: the month's features and score against the same for a reference month.
    """
    from riskstrat.features import build_features

    features = build_features(workspace, month, settings)
    if scores is not None:
        return features.merge(scores[["person_id", "score"]], on="person_id", how="inner")
    features["score"] = model.predict_proba(features)
    return features


#: What a matured month's realised performance depends on, besides its month: equal keys, same numbers.
REUSE_KEYS = ("outcome", "runout_months", "horizon_months", "deliveries", "scores_sha256")


def monitoring_history(workspace: Path | str, model, settings, known_month: str | None = None,
                       judged: list[dict] | None = None) -> tuple[pd.DataFrame | None, str]:
    """(history of every scored month that has matured, latest delivery month used); history None when none has.

    A month is judged with the same run-out the model was trained with (or the settings', if
    longer), so its labels mean what the model's test labels meant. ``known_month`` limits the
    deliveries read (default: the lake's latest), so the report of a month re-run later says
    what was known then.

    ``judged`` are rows of an earlier history (last month's run.json): a row is reused, not
    rebuilt from the lake, when its month's scores.parquet, outcome, horizon, run-out and the
    deliveries its labels read are the same, so the monthly report's cost does not grow with the
    months behind it. Each row carries those keys (:data:`REUSE_KEYS`) for that purpose.
    """
    from riskstrat import lake
    from riskstrat.audit import monitoring
    from riskstrat.design import add_months
    from riskstrat.ingest import read_deliveries
    from riskstrat.labels import build_labels, latest_delivery
    from riskstrat.monthly import fingerprint

    con = lake.connect(workspace)
    try:
        latest = min(latest_delivery(con), known_month) if known_month else latest_delivery(con)
    finally:
        con.close()
    runout = max(settings.model.runout_months, model.design.runout_months)
    outcome = model.design.outcome
    horizon = settings.model.horizon_months
    ledger = read_deliveries(workspace)

    def deliveries_up_to(last: str) -> str:
        # a corrected, re-ingested delivery changes the labels of every month that reads it
        return fingerprint(sorted((r["delivery_month"], r["table"], r["sha256"] or "", r["status"] or "")
                                  for r in ledger if r["delivery_month"] <= last))

    earlier = {r["month"]: r for r in judged or []}
    history, keys = None, {}
    for month in output_months(workspace):
        if monitoring.is_matured(month, latest, settings.model.horizon_months, runout):
            key = {"outcome": outcome, "runout_months": runout, "horizon_months": horizon,
                   "deliveries": deliveries_up_to(min(add_months(month, horizon + runout), latest)),
                   "scores_sha256": sha256_file(Path(workspace) / "outputs" / month / "scores.parquet")}
            row = earlier.get(month)
            if row is None or any(row.get(k) != v for k, v in key.items()):
                outcomes, _ = build_labels(workspace, month, settings, runout_months=runout, known_month=latest)
                row = monitoring.month_metrics(month, read_scores(workspace, month), outcomes, outcome)
            history = monitoring.track(history, {k: (math.nan if v is None else v) for k, v in row.items()})
            keys[month] = key
    if history is not None:
        for column in REUSE_KEYS:
            history[column] = history["month"].map(lambda m, c=column: keys[m][c])
    return history, latest
