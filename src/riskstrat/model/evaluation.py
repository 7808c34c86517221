"""Judging a fitted model: beside its baselines and (on a synthetic plan) the oracle, on the same test rows,
and against the champion before it may replace it."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from riskstrat.audit import performance as perf
from riskstrat.audit.workspace import month_groups
from riskstrat.config import Settings
from riskstrat.core.ranking import pick_top
from riskstrat.model import labels, registry
from riskstrat.model.baselines import LABEL
from riskstrat.model.matrix import TrainError
from riskstrat.model.specs import changed_fields

#: Shares of the test children at which the card's lift curve is drawn.
LIFT_CURVE_SHARES = (0.005, 0.01, 0.02, 0.03, 0.05, 0.1, 0.2, 0.3, 0.5)


def true_risk(rows: pd.DataFrame, truth: pd.DataFrame) -> np.ndarray:
    """The synthetic plan's true risk (``p_true``) of each row (person_id, as_of); NaN where the truth has none."""
    joined = rows[["person_id", "as_of"]].astype({"person_id": "string"}).merge(
        truth, left_on=["person_id", "as_of"], right_on=["person_id", "month"], how="left")
    return joined["p_true"].to_numpy(float)


def evaluate_all(test: pd.DataFrame, scored: dict, settings: Settings, truth: pd.DataFrame | None,
                 label: str = LABEL) -> dict:
    """Metrics for the model and each baseline (and with truth the oracle), all on the same test rows.

    ``scored``: name -> (ranking score, calibrated probability or None) per row of ``test``; the
    model's entry is ``"model"``. Every child of a test month is scored out of fold, so the list
    is cut at the full monthly capacity, as deep as it goes in the plan.
    """
    ms = settings.model
    y = test[label].to_numpy(float)
    month = test["as_of"].to_numpy()
    ids = test["person_id"].to_numpy(dtype=object)
    capacity = perf.held_out_capacity(settings)
    p_true, truth_note = None, "no truth/ folder, or no oracle for this outcome: a real plan, no oracle"
    if truth is not None:
        joined = true_risk(test, truth)
        if np.isnan(joined).any():
            truth_note = f"truth/risk.parquet lacks {int(np.isnan(joined).sum())} test rows: no oracle"
        else:
            p_true = joined
            truth_note = f"oracle = p_{ms.outcome} from truth/risk.parquet (the generator's exact risk)"
    scored = dict(scored)
    if p_true is not None:
        scored["oracle"] = (p_true, p_true)
    out: dict = {
        name: perf.evaluate_scores(y, s, month, capacity, ids=ids, prob=p, p_true=p_true)
        for name, (s, p) in scored.items()
    }
    for name in scored:
        out[name]["lift_curve"] = perf.lift_curve(y, scored[name][0], LIFT_CURVE_SHARES, ids=ids)
    out["test_months"] = sorted(set(month.tolist()))
    out["capacity_note"] = (f"capacity {capacity} per month: every child of a test month is scored out of fold, "
                            "so the list is cut as deep as it is in the plan")
    out["oracle_note"] = truth_note
    if "oracle" in out:
        out["ratio_to_oracle"] = perf.ratio_to_oracle(out["model"], out["oracle"])
        out["ratios_to_oracle"] = {name: perf.ratio_to_oracle(out[name], out["oracle"])
                                   for name in scored if name != "oracle"}
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
    current = registry.champion_id(workspace, bundle.design.spec)
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
        changed = changed_fields(champion.manifest.get("specification"), bundle.specification)
        if changed:
            # The champion answers another question (another outcome, population ...): no score of
            # it on the new label can keep the specification from taking effect.
            reason = (f"promoted: the specification changed since champion {current} learned "
                      f"({', '.join(changed)})")
            registry.set_champion(workspace, model_id, reason, bundle.design.spec)
            return True, reason
        champ_prob, why_not = _champion_scores(champion, test, bundle.design)
        if champ_prob is None:
            return False, f"kept the champion {current}: {why_not}; use --promote to replace it"
        y = test[label].to_numpy(float)
        champion_value = perf.auprc(y, champ_prob) if metric == "auprc" else perf.auroc(y, champ_prob)
    promoted, reason = decide_promotion(challenger_value, champion_value, metric, ms.promotion_tolerance, force)
    if promoted:
        registry.set_champion(workspace, model_id, reason, bundle.design.spec)
    return promoted, reason


def _champion_scores(champion, test: pd.DataFrame, design) -> tuple[np.ndarray | None, str]:
    """The champion's scores on the challenger's test rows, judged as fairly as the challenger was.

    Rows of a month the champion never learned from, it scores itself. Rows of a month it did learn
    from (a retrain a month or two after it: the champion's own test months) are judged by the
    out-of-fold scores it kept of them; without those there is no fair comparison.
    """
    learned = test["as_of"].isin(set(champion.design.fit_months)).to_numpy()
    scores = np.full(len(test), np.nan)
    if (~learned).any():
        try:
            scores[~learned] = champion.predict_proba(test.loc[~learned])
        except (TrainError, registry.RegistryError) as exc:
            return None, f"it cannot score the challenger's test rows ({exc})"
    if learned.any():
        try:
            kept = registry.load_test_scores(champion)
        except registry.RegistryError:
            kept = None
        rows = test.loc[learned, ["person_id", "as_of"]].astype({"person_id": "string"})
        joined = None if kept is None else rows.merge(kept, on=["person_id", "as_of"], how="left")["score"]
        if joined is None or joined.isna().any():
            overlap = sorted(set(champion.design.fit_months) & set(design.test_months))
            kept_rows = 0 if joined is None else int(joined.notna().sum())
            return None, (f"it learned from {', '.join(overlap)}, the challenger's test months, and kept out-of-fold "
                          f"scores of {kept_rows:,} of those {len(rows):,} rows, so the two cannot be compared fairly")
        scores[learned] = joined.to_numpy(float)
    return scores, ""


def held_out_frame(workspace: Path | str, model, settings) -> pd.DataFrame:
    """The model's test months rebuilt from the lake, with ``score``, ``flagged``, ``outcome`` and the groups.

    One row per child and test month; ``score`` is the out-of-fold score the registry kept
    (``test_scores.parquet``: each child scored by the fit that never saw them), so these are the
    rows and scores the model's metrics came from. Flags take the top ``capacity`` per month.
    """
    months = list(model.design.test_months)
    frame = labels.build_training_frame(workspace, months, outcome=model.design.outcome, settings=settings,
                                        runout_months=model.design.runout_months).frame
    scores = registry.load_test_scores(model)
    frame = frame.astype({"person_id": "string"}).merge(scores, on=["person_id", "as_of"], how="inner")
    capacity = perf.held_out_capacity(settings)
    frame["flagged"] = pick_top(frame["score"], frame["person_id"], capacity, groups=frame["as_of"]).astype(int)
    frame["outcome"] = frame["label"].astype(int)
    groups = pd.concat([month_groups(workspace, m).assign(as_of=m) for m in months], ignore_index=True)
    return frame.merge(groups, on=["person_id", "as_of"], how="left")
