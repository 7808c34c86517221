"""Realised performance of matured months, on months whose answers are known."""

import math

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from riskstrat.audit import monitoring as M
from riskstrat.audit.fairness import wilson
from riskstrat.core.months import MonthError, last_matured_month


def month_frames():
    """Ten children: the top three flagged; outcomes for the 1st, 2nd and 5th; one child left the plan."""
    scores = pd.DataFrame({
        "person_id": [f"p{i}" for i in range(10)],
        "score": [0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.05],
        "flagged": [1, 1, 1, 0, 0, 0, 0, 0, 0, 0],
    })
    outcomes = pd.DataFrame({"person_id": [f"p{i}" for i in range(9)],
                             "acute_event": [1, 1, 0, 0, 1, 0, 0, 0, 0]})
    return scores, outcomes


def test_month_metrics_known_answers():
    scores, outcomes = month_frames()
    row = M.month_metrics("2025-03", scores, outcomes)
    assert row["unmatched"] == 1 and row["n"] == 9 and row["events"] == 3
    # Cases rank 1, 2, 5 among 9; of the 3 x 6 case-control pairs, 2 are discordant (5th below 3rd and 4th).
    assert row["auroc"] == pytest.approx(16 / 18)
    assert row["flagged"] == 3 and row["flagged_events"] == 2 and row["ppv"] == pytest.approx(2 / 3)
    assert (row["ppv_lo"], row["ppv_hi"]) == pytest.approx(wilson(2, 3))
    assert row["sensitivity"] == pytest.approx(2 / 3)
    mean_p = np.mean([0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1])
    assert row["mean_predicted"] == pytest.approx(mean_p)
    assert row["citl"] == pytest.approx(3 / 9 - mean_p)
    assert row["oe_ratio"] == pytest.approx(3 / (9 * mean_p))
    assert row["citl_lo"] < row["citl"] < row["citl_hi"]
    assert set(row) == set(M.HISTORY_COLUMNS)


def test_auroc_and_ece_are_the_evaluate_module_s():
    rng = np.random.default_rng(2)
    p = rng.beta(2, 20, 3000)
    y = (rng.random(3000) < p).astype(int)
    row = M.matured_month_metrics("2025-01", p, np.zeros(3000), y)
    assert row["auroc"] == pytest.approx(roc_auc_score(y, p))
    # A perfectly calibrated score has a small ECE; one doubled is off by about its mean.
    assert row["ece"] < 0.03
    doubled = M.matured_month_metrics("2025-01", np.minimum(2 * p, 1), np.zeros(3000), y)
    assert doubled["ece"] > 0.05 and doubled["oe_ratio"] < 0.6
    assert math.isnan(row["ppv"]) and row["flagged"] == 0


def test_track_one_row_per_month_replacing_a_rejudged_month():
    scores, outcomes = month_frames()
    history = None
    for month in ("2025-02", "2025-01", "2025-03"):
        history = M.track(history, M.month_metrics(month, scores, outcomes))
    assert list(history["month"]) == ["2025-01", "2025-02", "2025-03"]
    later = outcomes.assign(acute_event=1)  # more claims ran out for February
    history = M.track(history, M.month_metrics("2025-02", scores, later))
    assert list(history["month"]) == ["2025-01", "2025-02", "2025-03"]
    assert history.set_index("month").loc["2025-02", "events"] == 9
    assert list(history.columns) == M.HISTORY_COLUMNS
    assert M.monitoring_plot_svg(history).startswith("<svg")


def test_maturity():
    assert last_matured_month("2025-11", 6, 0) == "2025-05"
    assert M.is_matured("2025-02", "2025-11", 6, 3)
    assert not M.is_matured("2025-03", "2025-11", 6, 3)


def test_bad_input_is_named():
    scores, outcomes = month_frames()
    with pytest.raises(ValueError, match="outcomes has no column 'ip_admit'"):
        M.month_metrics("2025-03", scores, outcomes, outcome="ip_admit")
    with pytest.raises(MonthError, match="month"):
        M.track(None, {**M.month_metrics("2025-03", scores, outcomes), "month": "March"})
