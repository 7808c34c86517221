"""What the audit reads from a workspace: a month's published outputs, the children's groups, SHAP.

The checks in :mod:`fairness`, :mod:`drift` and :mod:`monitoring` take frames; these functions
make those frames from ``outputs/YYYY-MM/`` (``../shared/spec/outputs.md``) and the lake
(``docs/lake.md``), so the audit notebook and the monthly report only call them. A file that is
missing or lacks a column fails with one line naming the file and the column.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from riskstrat.audit import monitoring
from riskstrat.audit.fairness import audit_groups
from riskstrat.config import DEFAULT_SPEC
from riskstrat.core.errors import RiskstratError
from riskstrat.core.fingerprint import fingerprint, sha256_file
from riskstrat.core.months import add_months
from riskstrat.core.workspace import output_dir, output_months
from riskstrat.features import eligibility_at
from riskstrat.features.store import stored_features
from riskstrat.ingest import read_deliveries
from riskstrat.lake import connect, latest_delivery

SCORES_COLUMNS = ("person_id", "score", "flagged")
EXPLANATIONS_COLUMNS = ("person_id", "feature", "feature_value", "shap_value")


class AuditError(RiskstratError):
    """A published month cannot be audited; the message names the file and what is missing."""


def _read(path: Path, columns: tuple[str, ...]) -> pd.DataFrame:
    if not path.is_file():
        raise AuditError(f"{path}: missing; score the month first (`riskstrat score`)")
    frame = pd.read_parquet(path)
    missing = [c for c in columns if c not in frame]
    if missing:
        raise AuditError(f"{path}: has no column {', '.join(missing)} (see outputs.md)")
    frame["person_id"] = frame["person_id"].astype("string")
    return frame


def read_scores(workspace: Path | str, month: str, spec: str = DEFAULT_SPEC) -> pd.DataFrame:
    """List ``spec``'s rows of ``outputs/<month>/scores.parquet`` (one per child), ``flagged`` as 0/1.

    A month published before there were several lists has no ``list`` column: its rows are the
    general list's.
    """
    path = output_dir(workspace, month) / "scores.parquet"
    scores = _read(path, SCORES_COLUMNS)
    if "list" in pq.read_schema(path).names:
        lists = pd.read_parquet(path, columns=["list"])["list"].astype("string")
        scores = scores.loc[(lists == spec).to_numpy()].reset_index(drop=True)
    elif spec != DEFAULT_SPEC:
        scores = scores.iloc[0:0]
    scores["flagged"] = scores["flagged"].fillna(False).astype(bool).astype(int)
    return scores


def read_explanations(workspace: Path | str, month: str, spec: str | None = None) -> pd.DataFrame:
    """``outputs/<month>/explanations.parquet`` (long: person_id, feature, feature_value, shap_value),
    of list ``spec`` only when given: a child flagged on two lists has a row per feature of each
    list's model, and two models' SHAP values do not add up to either one's score. A month
    published before there were several lists holds the general list's only."""
    frame = _read(output_dir(workspace, month) / "explanations.parquet", EXPLANATIONS_COLUMNS)
    if spec is None:
        return frame
    if "list" not in frame.columns:
        return frame if spec == DEFAULT_SPEC else frame.iloc[0:0]
    return frame[(frame["list"] == spec).to_numpy(dtype=bool)].reset_index(drop=True)


def scoring_model_id(workspace: Path | str, month: str, scores: pd.DataFrame | None = None,
                     spec: str = DEFAULT_SPEC) -> str | None:
    """The model that scored list ``spec`` of ``month``: scores.parquet's ``model_id`` (``scores``: that
    list's rows), else run.json's, else None (the champion).

    Auditing a month with a different model than the one that scored it would explain scores
    nobody published.
    """
    if scores is not None and "model_id" in scores and scores["model_id"].nunique() == 1:
        return str(scores["model_id"].iloc[0])
    run = output_dir(workspace, month) / "run.json"
    if run.is_file():
        manifest = json.loads(run.read_text(encoding="utf-8"))
        model = (manifest.get("models") or {}).get(spec) or manifest.get("model_id") or manifest.get("model")
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


#: The eligibility columns the fairness groups are made from (:func:`riskstrat.audit.fairness.audit_groups`).
GROUP_SOURCE_COLUMNS = ["race", "ethnicity", "gender", "birth_date", "aid_category", "zip_code"]


def month_groups(workspace: Path | str, month: str, ages: pd.DataFrame | None = None,
                 snapshots: dict[str, pd.DataFrame] | None = None) -> pd.DataFrame:
    """``person_id`` and the fairness groups of every person in ``month``'s eligibility snapshot
    (with ``ages``, of those persons only).

    Each person is described by the span that describes them at the month's end (the features'
    own rule, :func:`riskstrat.features.eligibility_at`). ``ages`` (person_id, age), e.g. the
    ``age`` of scores.parquet, is used where given, so the age band is the age the child was
    scored at; otherwise the age on the last day of the month. Given ``ages``, only their persons
    are grouped: a programme's test rows are a few thousand children of a snapshot of 700k people.
    ``snapshots``: the caller's store of the snapshot rows read so far, by month, for a caller
    that asks for the same months more than once (a training run, once per list).
    """
    snapshots = {} if snapshots is None else snapshots
    if month not in snapshots:
        snapshots[month] = eligibility_at(workspace, month, GROUP_SOURCE_COLUMNS)
    # Not a copy of the rows: pandas copies on write, so the stored snapshot keeps its columns.
    snap = snapshots[month].copy(deep=False)
    snap["person_id"] = snap["person_id"].astype("string")
    if ages is not None:
        age = ages[["person_id", "age"]].assign(person_id=lambda f: f["person_id"].astype("string"))
        snap = snap.merge(age, on="person_id", how="inner")
    else:
        snap["age"] = snap["age_years"]
    return audit_groups(snap.drop(columns=["enrolled", "alive", "age_years"]))


def scored_features(workspace: Path | str, month: str, model, settings, scores: pd.DataFrame | None = None) -> pd.DataFrame:
    """The feature table of ``month`` with a ``score`` column: the published score where given, else the model's.

    What drift compares: the month's features and score against the same for a reference month.
    """
    features = stored_features(workspace, month, settings)
    if scores is not None:
        return features.merge(scores[["person_id", "score"]], on="person_id", how="inner")
    features["score"] = model.predict_proba(features)
    return features


#: What a matured month's realised performance depends on, besides its month: equal keys, same numbers.
REUSE_KEYS = ("outcome", "runout_months", "horizon_months", "deliveries", "scores_sha256")


#: Outcomes of a scored month's population known through a delivery month:
#: ``outcomes(month, runout_months, known_month)`` -> the labels frame of riskstrat.model.labels.build_labels.
Outcomes = Callable[[str, int, str], pd.DataFrame]


def monitoring_history(workspace: Path | str, model, settings, outcomes: Outcomes, known_month: str | None = None,
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
    ``outcomes`` labels a month (:data:`Outcomes`); the audit is handed it, as it does not train.
    """
    con = connect(workspace)
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
                   "scores_sha256": sha256_file(output_dir(workspace, month) / "scores.parquet")}
            row = earlier.get(month)
            if row is None or any(row.get(k) != v for k, v in key.items()):
                scores = read_scores(workspace, month, model.design.spec)
                if scores.empty:
                    continue  # the list was not published that month
                row = monitoring.month_metrics(month, scores, outcomes(month, runout, latest), outcome)
            history = monitoring.track(history, {k: (math.nan if v is None else v) for k, v in row.items()})
            keys[month] = key
    if history is not None:
        for column in REUSE_KEYS:
            history[column] = history["month"].map(lambda m, c=column: keys[m][c])
    return history, latest
