"""Is the model still working? Realised performance of past scoring months, once outcomes mature.

A scoring month T is judged when its outcome window T+1..T+H (H = ``model.horizon_months``,
six) and the claims run-out have been delivered. Then the month's published scores
(``outputs/T/scores.parquet``: ``score``, ``flagged``) are joined to the realised outcome and
:func:`matured_month_metrics` gives one row: realised AUROC, calibration (expected calibration
error, calibration-in-the-large, observed/expected) and the PPV of the month's flags, each
proportion with its Wilson interval. :func:`track` keeps one row per month in a tidy history, so
the report can plot each metric over time.

The metric primitives are :mod:`riskstrat.audit.performance`'s (AUROC with ties counted half, ECE over
equal-count bins), so the monitored numbers mean exactly what the model card's do.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from riskstrat.audit.fairness import CONFIDENCE, mean_interval, wilson
from riskstrat.audit.performance import auroc, expected_calibration_error
from riskstrat.core.months import check_month, last_matured_month
from riskstrat.core.plots import figure as new_figure
from riskstrat.core.plots import svg_of

HISTORY_COLUMNS = [
    "month", "n", "events", "prevalence", "mean_predicted", "citl", "citl_lo", "citl_hi", "oe_ratio",
    "ece", "auroc", "flagged", "flagged_events", "ppv", "ppv_lo", "ppv_hi", "sensitivity",
    "sensitivity_lo", "sensitivity_hi", "unmatched",
]


def is_matured(month: str, latest_delivery: str, horizon_months: int = 6, runout_months: int = 0) -> bool:
    """True when scoring month ``month`` can be judged with deliveries through ``latest_delivery``."""
    check_month(month, "month")
    check_month(latest_delivery, "latest_delivery")
    return month <= last_matured_month(latest_delivery, horizon_months, runout_months)


def join_outcomes(scores: pd.DataFrame, outcomes: pd.DataFrame, outcome: str = "acute_event") -> tuple[pd.DataFrame, int]:
    """Scores of one month with their realised outcome, by ``person_id``; (joined rows, scored children without one).

    Children with no outcome row (they left the plan before the outcome could be observed, see
    :mod:`riskstrat.model.labels`) are dropped and counted — never scored as "no event".
    """
    for name, frame, cols in (("scores", scores, ["person_id", "score", "flagged"]), ("outcomes", outcomes, ["person_id", outcome])):
        missing = [c for c in cols if c not in frame]
        if missing:
            raise ValueError(f"monitoring: {name} has no column {', '.join(map(repr, missing))}")
    right = outcomes[["person_id", outcome]].rename(columns={outcome: "outcome"})
    joined = scores[["person_id", "score", "flagged"]].merge(right, on="person_id", how="left", validate="one_to_one")
    unmatched = int(joined["outcome"].isna().sum())
    joined = joined[joined["outcome"].notna()].reset_index(drop=True)
    joined["outcome"] = joined["outcome"].astype(int)
    return joined, unmatched


def matured_month_metrics(
    month: str,
    score,
    flagged,
    outcome,
    *,
    bins: int = 10,
    unmatched: int = 0,
    confidence: float = CONFIDENCE,
) -> dict:
    """Realised performance of one scoring month: one row of the monitoring history (see :data:`HISTORY_COLUMNS`).

    ``citl`` is the observed rate minus the mean score (above 0: the model under-predicted);
    ``oe_ratio`` the observed over expected events; ``ppv`` the share of flagged children who
    had the outcome; ``sensitivity`` the share of children with the outcome who were flagged.
    """
    check_month(month, "month")
    y = np.asarray(outcome, dtype=float)
    p = np.asarray(score, dtype=float)
    f = np.asarray(flagged, dtype=float)
    if not (len(y) == len(p) == len(f)):
        raise ValueError("monitoring: score, flagged and outcome must be the same length")
    n = len(y)
    events = int(y.sum())
    flagged_n = int(f.sum())
    hits = int((y * f).sum())
    resid = y - p
    citl = float(resid.mean()) if n else math.nan
    citl_lo, citl_hi = mean_interval(citl, float(resid.std(ddof=1)) if n > 1 else math.nan, n, confidence)
    ppv_lo, ppv_hi = wilson(hits, flagged_n, confidence)
    sens_lo, sens_hi = wilson(hits, events, confidence)
    expected = float(p.sum())
    return {
        "month": month, "n": n, "events": events,
        "prevalence": events / n if n else math.nan,
        "mean_predicted": float(p.mean()) if n else math.nan,
        "citl": citl, "citl_lo": citl_lo, "citl_hi": citl_hi,
        "oe_ratio": events / expected if expected > 0 else math.nan,
        "ece": expected_calibration_error(y, p, bins) if n else math.nan,
        "auroc": auroc(y, p) if 0 < events < n else math.nan,
        "flagged": flagged_n, "flagged_events": hits,
        "ppv": hits / flagged_n if flagged_n else math.nan, "ppv_lo": ppv_lo, "ppv_hi": ppv_hi,
        "sensitivity": hits / events if events else math.nan, "sensitivity_lo": sens_lo, "sensitivity_hi": sens_hi,
        "unmatched": int(unmatched),
    }


def month_metrics(month: str, scores: pd.DataFrame, outcomes: pd.DataFrame, outcome: str = "acute_event",
                  bins: int = 10) -> dict:
    """:func:`matured_month_metrics` from a month's ``scores.parquet`` frame and its realised outcomes."""
    joined, unmatched = join_outcomes(scores, outcomes, outcome)
    return matured_month_metrics(month, joined["score"], joined["flagged"], joined["outcome"], bins=bins,
                                 unmatched=unmatched)


def track(history: pd.DataFrame | None, row: dict | pd.DataFrame) -> pd.DataFrame:
    """The monitoring history with ``row`` added: one row per month, oldest first.

    Re-judging a month (a late claims run-out) replaces its row rather than adding a second, so
    the history can be rebuilt month by month and stays the same.
    """
    new = row if isinstance(row, pd.DataFrame) else pd.DataFrame([row])
    missing = [c for c in HISTORY_COLUMNS if c not in new]
    if missing:
        raise ValueError(f"monitoring: a history row lacks {', '.join(missing)}")
    for m in new["month"]:
        check_month(m, "month")
    if history is None or history.empty:
        out = new[HISTORY_COLUMNS]
    else:
        kept = history[~history["month"].isin(set(new["month"]))]
        out = pd.concat([kept[HISTORY_COLUMNS], new[HISTORY_COLUMNS]], ignore_index=True)
    return out.sort_values("month", kind="mergesort").reset_index(drop=True)


def monitoring_plot_svg(history: pd.DataFrame) -> str:
    """AUROC, PPV of flags (with interval) and observed/expected over the judged months; inline SVG."""
    h = history.sort_values("month")
    fig = new_figure(figsize=(10, 3.2))
    axes = fig.subplots(1, 3)
    axes[0].plot(h["month"], h["auroc"], marker="o")
    axes[0].set_title("realised AUROC")
    axes[1].errorbar(h["month"], h["ppv"], yerr=np.vstack([h["ppv"] - h["ppv_lo"], h["ppv_hi"] - h["ppv"]]),
                     marker="o", capsize=2)
    axes[1].set_title("PPV of flags")
    axes[2].plot(h["month"], h["oe_ratio"], marker="o")
    axes[2].axhline(1.0, color="grey", linewidth=0.8)
    axes[2].set_title("observed / expected")
    for ax in axes:
        ax.tick_params(axis="x", labelrotation=45, labelsize=7)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return svg_of(fig, tight=True)

