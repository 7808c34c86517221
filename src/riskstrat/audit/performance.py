"""How good is a score: discrimination, calibration, and what the outreach team would get.

Plain functions over arrays: ``y`` is the outcome (0/1), ``score`` ranks children (higher =
riskier), ``prob`` is a calibrated probability. Functions that count events also accept an
*expected* outcome in place of ``y`` — the true probability of a synthetic plan's oracle — and
then return the expected value of the metric (for ratios such as PPV and sensitivity, the
ratio of expectations). Realised metrics over a few hundred events move by about ±0.02 from
month to month; the expected ones do not, which is why synthetic plans report both.

The top-``k`` and capacity metrics count the children the outreach team would get: the pick of
:mod:`riskstrat.core.ranking`, where equal scores are ordered by ``person_id`` as on the worklist.
A rules baseline, whose scores tie in large groups, is judged on the list it would really give.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score

from riskstrat.core.ranking import pick_top, rank_order

TOP_SHARES: tuple[float, ...] = (0.01, 0.02, 0.05)


def _arrays(y, score) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y, dtype=float)
    score = np.asarray(score, dtype=float)
    if y.shape != score.shape or y.ndim != 1:
        raise ValueError(f"outcome and score must be 1-d and the same length ({y.shape} vs {score.shape})")
    if np.isnan(score).any():
        raise ValueError("score has missing values")
    if ((y < 0) | (y > 1)).any() or np.isnan(y).any():
        raise ValueError("outcome must be 0/1 (or a probability in [0, 1] for expected metrics)")
    return y, score


def _weighted_auc(score: np.ndarray, pos_w: np.ndarray, neg_w: np.ndarray) -> tuple[float, float]:
    """(concordant weight, total pair weight) over all case-control pairs, ties counting half."""
    order = np.argsort(score, kind="mergesort")
    s, pw, nw = score[order], pos_w[order], neg_w[order]
    starts = np.flatnonzero(np.r_[True, s[1:] != s[:-1]])
    pos_g = np.add.reduceat(pw, starts)
    neg_g = np.add.reduceat(nw, starts)
    neg_below = np.cumsum(neg_g) - neg_g
    concordant = float(np.sum(pos_g * neg_below) + 0.5 * np.sum(pos_g * neg_g))
    return concordant, float(pos_g.sum() * neg_g.sum())


def auroc(y, score) -> float:
    """Area under the ROC curve: the chance a random case outranks a random control (ties half)."""
    y, score = _arrays(y, score)
    if not ((y == 0) | (y == 1)).all():
        raise ValueError("auroc needs a 0/1 outcome; use expected_auroc for probabilities")
    concordant, pairs = _weighted_auc(score, y, 1 - y)
    return concordant / pairs if pairs else math.nan


def expected_auroc(p_true, score) -> float:
    """AUROC expected over outcomes drawn from ``p_true``: each child a case with weight p, a control with 1 - p.

    A child is never paired with itself (that pair is a tie with weight p(1-p) in the naive
    weighted AUROC), so a score equal to ``p_true`` gets exactly the oracle's expected AUROC.
    """
    p, score = _arrays(p_true, score)
    concordant, pairs = _weighted_auc(score, p, 1 - p)
    self_pairs = float(np.sum(p * (1 - p)))
    denom = pairs - self_pairs
    return (concordant - 0.5 * self_pairs) / denom if denom > 0 else math.nan


def auprc(y, score) -> float:
    """Area under the precision-recall curve as average precision (step-wise, no interpolation)."""
    y, score = _arrays(y, score)
    if y.sum() == 0:
        return math.nan
    return float(average_precision_score(y, score))


def expected_auprc(p_true, score) -> float:
    """Average precision with expected counts in place of realised ones (ratio of expectations).

    Precision at each cut is (sum of p above it) / (children above it) and recall steps by the
    p of the children passed. It is the plug-in value, not the exact expectation, and is steady
    where realised AUPRC is not.
    """
    p, score = _arrays(p_true, score)
    if p.sum() == 0:
        return math.nan
    n = len(p)
    labels = np.r_[np.ones(n), np.zeros(n)]
    return float(average_precision_score(labels, np.r_[score, score], sample_weight=np.r_[p, 1 - p]))


def brier(y, prob) -> float:
    """Mean squared difference between probability and outcome (expected, if ``y`` is a probability)."""
    y, prob = _arrays(y, prob)
    # E[(prob - Y)^2] = y(1-prob)^2 + (1-y)prob^2, which is the plain Brier score when y is 0/1.
    return float(np.mean(y * (1 - prob) ** 2 + (1 - y) * prob**2))


def calibration_table(y, prob, bins: int = 10) -> pd.DataFrame:
    """Children in ``bins`` equal-count groups by probability: mean predicted vs observed rate.

    Equal-count bins because a rare outcome puts almost every child below 0.1, where equal-width
    bins would leave one crowded bin and nine near-empty ones.
    """
    y, prob = _arrays(y, prob)
    n = len(y)
    if n == 0:
        return pd.DataFrame(columns=["bin", "n", "mean_predicted", "observed_rate"])
    order = np.argsort(prob, kind="mergesort")
    bin_of = np.empty(n, dtype=int)
    bin_of[order] = np.minimum(np.arange(n) * bins // n, bins - 1)
    frame = pd.DataFrame({"bin": bin_of, "y": y, "p": prob})
    table = frame.groupby("bin", sort=True).agg(n=("y", "size"), mean_predicted=("p", "mean"), observed_rate=("y", "mean"))
    return table.reset_index()


def expected_calibration_error(y, prob, bins: int = 10) -> float:
    """Share-weighted mean gap between predicted and observed rates over :func:`calibration_table` bins."""
    table = calibration_table(y, prob, bins)
    if table.empty:
        return math.nan
    gaps = (table["mean_predicted"] - table["observed_rate"]).abs()
    return float(np.sum(gaps * table["n"]) / table["n"].sum())


def _flag_summary(y: np.ndarray, picked: np.ndarray) -> dict[str, float]:
    """PPV, sensitivity and lift of the picked rows; lift is PPV over the prevalence: how many
    times more events the list finds than as many children picked at random."""
    k = int(picked.sum())
    events = float(y[picked].sum())
    total = float(y.sum())
    prevalence = total / len(y) if len(y) else math.nan
    ppv = events / k if k else math.nan
    return {
        "k": k,
        "events": events,
        "ppv": ppv,
        "sensitivity": events / total if total else math.nan,
        "lift": ppv / prevalence if prevalence else math.nan,
    }


def top_k(y, score, k: int, *, ids, order=None) -> dict[str, float]:
    """PPV, sensitivity and lift when the top ``k`` children are flagged (``ids``: their person_id;
    ``order``: their :func:`~riskstrat.core.ranking.rank_order`, when already known)."""
    y, score = _arrays(y, score)
    return _flag_summary(y, pick_top(score, ids, int(min(k, len(y))), order=order))


def top_share(y, score, share: float, *, ids, order=None) -> dict[str, float]:
    """:func:`top_k` with ``k`` the top ``share`` of children (at least one)."""
    y, score = _arrays(y, score)
    return top_k(y, score, max(1, int(round(share * len(y)))), ids=ids, order=order)


def lift_curve(y, score, shares: Sequence[float], *, ids) -> dict[str, float]:
    """Lift of the top ``share`` of children, for each share (the children are ranked once)."""
    order = rank_order(score, ids)
    return {f"{share:g}": top_share(y, score, share, ids=ids, order=order)["lift"] for share in shares}


def at_capacity(y, score, month, capacity: int, *, ids, order=None) -> dict[str, float]:
    """Flag the top ``capacity`` children in each month, as the outreach team would; pooled over months.

    ``month`` labels each row with its as-of month. Months with fewer children than the capacity
    flag everyone, and ``k`` reports how many were flagged in all.
    """
    y, score = _arrays(y, score)
    month = np.asarray(month)
    if month.shape != y.shape:
        raise ValueError("month must label every row")
    return _flag_summary(y, pick_top(score, ids, capacity, groups=month, order=order))


def held_out_capacity(settings) -> int:
    """Children flagged per test month: ``scoring.capacity``. Cross-fitting scores every child of a
    test month out of sample, so the test rows are the whole list, as deep as the capacity goes."""
    return settings.scoring.capacity


def evaluate_scores(
    y,
    score,
    month,
    capacity: int,
    *,
    ids,
    prob=None,
    p_true=None,
    shares: Sequence[float] = TOP_SHARES,
    bins: int = 10,
) -> dict:
    """Every metric for one model on one set of rows, as a JSON-ready dict.

    ``score`` ranks; ``prob`` (if the model gives probabilities) is judged for calibration;
    ``p_true`` (synthetic plans) adds the expected metrics under ``"expected"``. ``ids`` are the
    rows' person_id, which order children of equal score (:mod:`riskstrat.core.ranking`).
    """
    y, score = _arrays(y, score)
    out: dict = {
        "n": int(len(y)),
        "events": int(y.sum()),
        "prevalence": float(y.mean()) if len(y) else math.nan,
        "auroc": auroc(y, score),
        "auprc": auprc(y, score),
    }
    if prob is not None:
        prob = np.asarray(prob, dtype=float)
        out["brier"] = brier(y, prob)
        out["ece"] = expected_calibration_error(y, prob, bins)
        out["mean_predicted"] = float(prob.mean())
        out["calibration"] = calibration_table(y, prob, bins).to_dict(orient="list")
    order = rank_order(score, ids)  # every pick below is over the same scores
    out["top"] = {f"{share:g}": top_share(y, score, share, ids=ids, order=order) for share in shares}
    out["capacity"] = {"per_month": capacity, **at_capacity(y, score, month, capacity, ids=ids, order=order)}
    if p_true is not None:
        p = np.asarray(p_true, dtype=float)
        expected: dict = {
            "events": float(p.sum()),
            "auroc": expected_auroc(p, score),
            "auprc": expected_auprc(p, score),
        }
        if prob is not None:
            expected["brier"] = brier(p, prob)
        expected["top"] = {f"{share:g}": top_share(p, score, share, ids=ids, order=order) for share in shares}
        expected["capacity"] = at_capacity(p, score, month, capacity, ids=ids, order=order)
        out["expected"] = expected
    return out


def ratio_to_oracle(model: dict, oracle: dict) -> dict[str, float]:
    """The model's share of the oracle's discrimination, realised and expected (1.0 = as good as truth)."""

    def _ratio(a: float, b: float) -> float:
        return a / b if b and not math.isnan(b) else math.nan

    out = {
        "auroc": _ratio(model["auroc"], oracle["auroc"]),
        "auprc": _ratio(model["auprc"], oracle["auprc"]),
        "lift_top_1%": _ratio(model["top"]["0.01"]["lift"], oracle["top"]["0.01"]["lift"]),
    }
    if "expected" in model and "expected" in oracle:
        out["expected_auroc"] = _ratio(model["expected"]["auroc"], oracle["expected"]["auroc"])
        out["expected_auprc"] = _ratio(model["expected"]["auprc"], oracle["expected"]["auprc"])
        # The share of the true risk the best list of the same size would carry that this list carries.
        out["capture_at_capacity"] = _ratio(model["expected"]["capacity"]["events"],
                                            oracle["expected"]["capacity"]["events"])
    return out
