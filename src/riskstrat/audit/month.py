"""The audit of one scoring month: drift, fairness of the flags, realised performance of past months.

Two callers:

- the monthly job, **before training** (``riskstrat.jobs.champion_drift``): PSI of this
  month's features and of the champion's score against what the champion's training data
  expects of the month (:func:`training_drift`, from ``drift_reference.json``: the same
  calendar month of training, or all training months pooled); :func:`drift_decision` says
  whether that shift calls for a retrain (``audit.retrain_*``);
- scoring, **before publishing** (:func:`month_audit`): PSI of every model feature and the score
  against the scoring model's training data and against last month; each group's share and
  flag rate (outcomes are not known yet); and the monitoring history of every published month
  whose outcomes have matured. The report shows it, run.json keeps its numbers and warnings, the
  Prefect artifact repeats the warnings.

Last month is compared through the bins and shares stored in its run.json (``audit.profile``,
:func:`month_profile`), not by rebuilding its features. Both comparisons judge a column at the
settings' PSI bands, raised for a column that moves more than that between training months
when nothing changed (:func:`column_bands`), so a seasonal or noisy column does not warn every
month. Nothing here holds member-level rows beyond the call (the results are per column, per
group and per month).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from riskstrat.audit.drift import Bands, BinProfile, alarm_bands, drift_warnings, profile, psi_bands, psi_table
from riskstrat.audit.fairness import fairness_table, largest_gaps
from riskstrat.audit.training import SCORE, expected_profiles, month_to_month_spread
from riskstrat.audit.workspace import Outcomes, monitoring_history, month_groups
from riskstrat.config import DEFAULT_SPEC
from riskstrat.core.months import add_months, last_matured_month
from riskstrat.core.workspace import output_dir


def bands(settings) -> Bands:
    """The PSI bands of ``settings.audit``."""
    return psi_bands(settings.audit.psi_warn, settings.audit.psi_alert)


def column_bands(spread: dict[str, float], columns, settings) -> dict[str, Bands]:
    """Each column's PSI bands: ``settings.audit``'s, raised for a column whose ``spread`` (the PSI it
    reaches between training months when nothing changed) is larger (:func:`riskstrat.audit.drift.alarm_bands`)."""
    return {c: alarm_bands(spread.get(c, 0.0), settings.audit.psi_warn, settings.audit.psi_alert) for c in columns}


def scored_frame(model, features: pd.DataFrame, score) -> pd.DataFrame:
    """The model's features (its own list, in its order) and the score: what drift compares.

    The month :func:`riskstrat.features.build_features` recorded (``attrs["as_of"]``) comes along,
    so :func:`training_drift` knows which month of training to expect.
    """
    frame = features[model.feature_names].copy()
    frame[SCORE] = np.asarray(score, dtype=float)
    frame.attrs["as_of"] = features.attrs.get("as_of")
    return frame


def training_drift(model, current: pd.DataFrame, settings, as_of: str | None = None) -> pd.DataFrame | None:
    """PSI of each model feature and the score against what training expects of the month; None without a reference.

    ``as_of`` is the month ``current`` describes (default: its ``attrs["as_of"]``, :func:`scored_frame`).
    The expectation is the same calendar month of training when the reference holds it, else all
    training months pooled, each with the spread it allows (:func:`column_bands`,
    :func:`riskstrat.audit.training.expected_profiles`); the sentence saying which is the table's
    ``attrs["expected"]``.
    """
    if not model.drift_reference:
        return None
    expected, spread, words = expected_profiles(model.drift_reference, as_of or current.attrs.get("as_of"))
    columns = [c for c in [*model.feature_names, SCORE] if c in expected]
    table = psi_table(expected, current, columns, against="training", bands=column_bands(spread, columns, settings))
    table.attrs["expected"] = words
    return table


def drift_decision(table: pd.DataFrame, settings) -> tuple[bool, str]:
    """Whether drift against training calls for a retrain, and the numbers behind it in one sentence.

    Retrain when the score's PSI reaches ``audit.retrain_score_psi`` (the population the model
    ranks has moved, whatever the cause), or when ``audit.retrain_feature_share`` of the features
    are at or above their major-shift level (``alert_at``: ``audit.psi_alert``, or more for a
    feature that moves more between training months; the inputs moved even if the score has not
    yet). A score that moves between training months raises its retrain level in the proportion
    its own ``alert_at`` was raised.
    """
    a = settings.audit
    score = table[table["column"] == SCORE]
    score_psi, score_at = math.nan, a.retrain_score_psi
    if len(score):
        score_psi, score_at = float(score["psi"].iloc[0]), score_at * float(score["alert_at"].iloc[0]) / a.psi_alert
    features = table[table["column"] != SCORE]
    over = int((features["psi"] >= features["alert_at"]).sum())
    share = over / len(features) if len(features) else 0.0
    facts = (f"score PSI {score_psi:.3f} against the model's training data (retrain at {score_at:.3g}); "
             f"{over} of {len(features)} features at or above their major-shift level (PSI {a.psi_alert:g}, or higher for "
             f"a feature that moves more between training months; retrain at {a.retrain_feature_share:.0%})")
    due = a.retrain_on_drift and (score_psi >= score_at or share >= a.retrain_feature_share)
    return bool(due), facts


def month_profile(current: pd.DataFrame) -> dict:
    """This month's bins and shares per column, JSON-ready: next month's reference "last month"."""
    return {name: p.to_dict() for name, p in profile(current).items()}


def previous_audit(workspace: Path | str, month: str, spec: str = DEFAULT_SPEC) -> tuple[dict, str | None]:
    """(last month's run.json ``audit`` section of list ``spec``, why it could not be read or None).

    The section is empty when last month was not published with one, and when its run.json was
    damaged after publishing; the second case comes with a sentence for the report, because the
    month is then compared with training only and its matured months are judged again. A month
    published before there were several lists holds the general list's section at the top.
    """
    previous = add_months(month, -1)
    path = output_dir(workspace, previous) / "run.json"
    if not path.is_file():
        return {}, None
    try:
        run = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        run = None
    audit = (run.get("audit") or {}) if isinstance(run, dict) else None
    if isinstance(audit, dict) and isinstance(audit.get("lists"), dict):
        audit = audit["lists"].get(spec) or {}
    elif isinstance(audit, dict) and spec != DEFAULT_SPEC:
        audit = {}
    shaped = isinstance(audit, dict) and all(
        audit.get(key) is None or isinstance(audit[key], kind) for key, kind in (("profile", dict), ("monitoring", list)))
    if not shaped:
        return {}, (f"outputs/{previous}/run.json cannot be read (not the JSON riskstrat wrote): no comparison "
                    "with last month, and its judgements of matured months are not reused")
    return audit, None


@dataclass
class MonthAudit:
    """Everything the report shows about drift, fairness and monitoring for one month (no member rows)."""

    drift: pd.DataFrame
    warnings: list[str]
    notes: list[str]
    profile: dict
    fairness: pd.DataFrame | None
    gaps: list[str]
    monitoring: pd.DataFrame | None
    monitoring_note: str

    def manifest(self) -> dict:
        """The part of run.json the audit writes: warnings, PSI per column, this month's profile, monitoring."""
        psi = {against: dict(zip(part["column"], part["psi"].map(lambda v: None if not np.isfinite(v) else round(float(v), 6))))
               for against, part in self.drift.groupby("against", sort=True)}
        history = None if self.monitoring is None else self.monitoring.astype(object).where(self.monitoring.notna(), None).to_dict("records")
        return {"warnings": self.warnings, "notes": self.notes, "psi": psi, "fairness_gaps": self.gaps,
                "monitoring": history, "profile": self.profile}


def month_audit(workspace: Path | str, as_of: str, model, features: pd.DataFrame, scores: pd.DataFrame,
                settings, outcomes: Outcomes) -> MonthAudit:
    """Drift against training and last month, fairness of the month's flags, and the monitoring history.

    ``features`` is the month's feature table and ``scores`` the scores table about to be
    published (person_id, score, flagged, age); ``outcomes`` labels a matured month
    (:data:`riskstrat.audit.workspace.Outcomes`).
    """
    scored = features[["person_id"]].merge(scores[["person_id", "score", "flagged", "age"]], on="person_id", how="left")
    current = scored_frame(model, features, scored["score"])
    notes, parts = [], []
    trained = training_drift(model, current, settings, as_of)
    if trained is None:
        notes.append(f"model {model.model_id} has no drift reference (registered before riskstrat stored one): "
                     "no comparison with its training data")
    else:
        parts.append(trained)
        notes.append(f"Against training: {as_of} is compared with {trained.attrs['expected']}; a column warns from "
                     f"PSI {settings.audit.psi_warn:g}, or from the most it moved between comparable training months when "
                     "that is more.")
    before, unreadable = previous_audit(workspace, as_of, model.design.spec)
    previous = before.get("profile")
    if unreadable:
        notes.append(unreadable)
    elif not previous:
        notes.append("last month was not published with a drift profile: no comparison with last month")
    else:
        kept = {k: BinProfile.from_dict(v) for k, v in previous.items() if k in current}
        spread = month_to_month_spread(model.drift_reference or {})
        parts.append(psi_table(kept, current, list(kept), against="last month", bands=column_bands(spread, kept, settings)))
    drift = pd.concat(parts, ignore_index=True) if parts else psi_table({}, current, [], against="training")
    groups = month_groups(workspace, as_of, scored[["person_id", "age"]])
    frame = scored[["person_id", "score", "flagged"]].merge(groups, on="person_id", how="left")
    frame["flagged"] = frame["flagged"].fillna(False).astype(int)
    fairness = fairness_table(frame, outcome=None)
    history, _ = monitoring_history(workspace, model, settings, outcomes, known_month=as_of,
                                    judged=before.get("monitoring"))
    runout = max(settings.model.runout_months, model.design.runout_months)
    monitoring_note = (f"Months scored up to {last_matured_month(as_of, settings.model.horizon_months, runout)} "
                       f"have matured ({settings.model.horizon_months} outcome months and {runout} of run-out known by {as_of}).")
    return MonthAudit(drift=drift, warnings=drift_warnings(drift), notes=notes, profile=month_profile(current),
                      fairness=fairness, gaps=largest_gaps(fairness), monitoring=history, monitoring_note=monitoring_note)
