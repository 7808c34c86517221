"""Judging a fitted model: beside its baselines and (on a synthetic plan) the oracle, on the same test rows,
and against the champion before it may replace it."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from riskstrat.audit import performance as perf
from riskstrat.audit.workspace import month_groups
from riskstrat.config import Settings
from riskstrat.core.ranking import pick_top
from riskstrat.model import labels, registry
from riskstrat.model.baselines import LABEL
from riskstrat.model.design import person_sides
from riskstrat.model.matrix import TrainError, feature_matrix

#: Shares of the test children at which the card's lift curve is drawn.
LIFT_CURVE_SHARES = (0.005, 0.01, 0.02, 0.03, 0.05, 0.1, 0.2, 0.3, 0.5)


def evaluate_all(test, specs, booster, calibrator, logistic, rules, settings: Settings, truth, label: str = LABEL) -> dict:
    """Metrics for the model, both baselines and (with truth) the oracle, all on the same test rows.

    The monthly capacity is scaled by the test share: the test rows hold only the test children,
    so flagging ``capacity x test_share`` of them per month is the same depth into the list as
    flagging ``capacity`` of the whole plan.
    """
    ms = settings.model
    y = test[label].to_numpy(float)
    month = test["as_of"].to_numpy()
    ids = test["person_id"].to_numpy(dtype=object)
    capacity = perf.held_out_capacity(settings)
    x = feature_matrix(test, specs)
    raw = booster.predict(x, raw_score=True)
    prob = calibrator.predict(raw)
    p_true, truth_note = None, "no truth/ folder: a real plan, no oracle"
    if truth is not None:
        if ms.outcome != "acute_event" or ms.horizon_months != 6:
            truth_note = "truth/risk.parquet gives the default 6-month acute_event probability; this design predicts another outcome"
        else:
            joined = test[["person_id", "as_of"]].astype({"person_id": "string"}).merge(
                truth, left_on=["person_id", "as_of"], right_on=["person_id", "month"], how="left")
            if joined["p_true"].isna().any():
                truth_note = f"truth/risk.parquet lacks {int(joined['p_true'].isna().sum())} test rows: no oracle"
            else:
                p_true, truth_note = joined["p_true"].to_numpy(float), "oracle = p_true from truth/risk.parquet"
    scored = {
        "model": (raw, prob),
        "logistic": (lp := logistic.predict_proba(feature_matrix(test, specs))[:, 1], lp),
        "rules": (rules.score(test), rules.predict_proba(test)),
    }
    if p_true is not None:
        scored["oracle"] = (p_true, p_true)
    out: dict = {
        name: perf.evaluate_scores(y, s, month, capacity, ids=ids, prob=p, p_true=p_true)
        for name, (s, p) in scored.items()
    }
    for name in out:
        out[name]["lift_curve"] = perf.lift_curve(y, scored[name][0], LIFT_CURVE_SHARES, ids=ids)
    out["test_months"] = sorted(set(month.tolist()))
    out["capacity_note"] = (
        f"capacity {settings.scoring.capacity} per month for the whole plan = top {capacity} per month "
        f"of the test children ({ms.test_share:g} of children)"
    )
    out["oracle_note"] = truth_note
    if "oracle" in out:
        out["ratio_to_oracle"] = perf.ratio_to_oracle(out["model"], out["oracle"])
    return out


def decide_promotion(challenger: float, champion: float | None, metric: str, tolerance: float,
                     force: bool = False) -> tuple[bool, str]:
    """The promotion rule: promote unless the challenger is worse than the champion by more than ``tolerance``."""
    if force:
        return True, "promoted: --promote given"
    if champion is None:
        return True, "promoted: there was no champion"
    if math.isnan(challenger):
        return False, f"kept the champion: challenger {metric} is undefined on the test months"
    if challenger >= champion - tolerance:
        return True, (f"promoted: challenger {metric} {challenger:.4f} vs champion {champion:.4f} on the same test rows "
                      f"(not lower by more than {tolerance:g})")
    return False, (f"kept the champion: challenger {metric} {challenger:.4f} is lower than the champion's "
                   f"{champion:.4f} by more than {tolerance:g} on the same test rows")


def promotion_gate(workspace, model_id, bundle, test, settings: Settings, force: bool, label: str = LABEL) -> tuple[bool, str]:
    """Make the just-registered model the champion if :func:`decide_promotion` says so, judged on its test rows."""
    ms = settings.model
    current = registry.champion_id(workspace)
    if current == model_id:
        return True, "already the champion: this retrain produced the champion's exact model"
    metric = ms.promotion_metric
    challenger_value = bundle.metrics["model"][metric]
    champion_value = None
    if current is not None and not force:
        try:
            champion = registry.load_model(workspace, current)
        except registry.RegistryError as exc:
            return False, f"kept the champion {current} untouched: it cannot be loaded to compare ({exc}); use --promote to replace it"
        seen = set(champion.design.train_months + champion.design.tune_months + champion.design.calibration_months)
        overlap = sorted(seen & set(bundle.design.test_months))
        if overlap:
            return False, (f"kept the champion {current}: it was fitted on {', '.join(overlap)}, the challenger's test months, "
                           f"so they cannot be compared fairly; use --promote to replace it")
        try:
            champ_prob = champion.predict_proba(test)
        except (TrainError, registry.RegistryError) as exc:
            return False, f"kept the champion {current}: it cannot score the challenger's test rows ({exc}); use --promote to replace it"
        y = test[label].to_numpy(float)
        champion_value = perf.auprc(y, champ_prob) if metric == "auprc" else perf.auroc(y, champ_prob)
    promoted, reason = decide_promotion(challenger_value, champion_value, metric, ms.promotion_tolerance, force)
    if promoted:
        registry.set_champion(workspace, model_id, reason)
    return promoted, reason


def held_out_frame(workspace: Path | str, model, settings) -> pd.DataFrame:
    """The model's test months rebuilt from the lake, with ``score``, ``flagged``, ``outcome`` and the groups.

    One row per child and test month (the children on the test side only, as at training).
    Flags take the top ``capacity × test_share`` per month: the test rows hold that share of the
    children, so this is as deep into the list as capacity goes into the whole plan's — the
    depth the registry's metrics use.
    """
    months = list(model.design.test_months)
    frame = labels.build_training_frame(workspace, months, outcome=model.design.outcome, settings=settings,
                                 runout_months=model.design.runout_months).frame
    frame = frame[person_sides(frame["person_id"], settings.model).to_numpy() == "test"].reset_index(drop=True)
    frame["score"] = model.predict_proba(frame)
    capacity = perf.held_out_capacity(settings)
    frame["flagged"] = pick_top(frame["score"], frame["person_id"], capacity, groups=frame["as_of"]).astype(int)
    frame["outcome"] = frame["label"].astype(int)
    groups = pd.concat([month_groups(workspace, m).assign(as_of=m) for m in months], ignore_index=True)
    return frame.merge(groups, on=["person_id", "as_of"], how="left")
