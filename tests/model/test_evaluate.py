"""Each metric on frames small enough to work out by hand."""

import math

import numpy as np
import pytest

from riskstrat.audit import performance as ev

Y = np.array([1, 0, 1, 0, 0, 0, 0, 1, 0, 0])
S = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.05])
IDS = [f"P{i:02d}" for i in range(len(Y))]


def _ids(n: int) -> list[str]:
    return [f"P{i:02d}" for i in range(n)]


def test_auroc_counts_concordant_pairs_and_half_ties():
    # Cases at ranks 1, 3, 8 outrank 7, 6 and 2 of the 7 controls: 15 / 21.
    assert ev.auroc(Y, S) == pytest.approx(15 / 21)
    assert ev.auroc([1, 0], [0.5, 0.5]) == 0.5
    assert ev.auroc([0, 0, 1, 1], [0.1, 0.2, 0.3, 0.4]) == 1.0


def test_auprc_is_average_precision():
    # Precision at each case: 1/1, 2/3, 3/8.
    assert ev.auprc(Y, S) == pytest.approx((1 + 2 / 3 + 3 / 8) / 3)
    assert math.isnan(ev.auprc([0, 0], [0.1, 0.2]))


def test_brier_plain_and_expected():
    assert ev.brier([1, 0], [0.8, 0.2]) == pytest.approx(0.04)
    # Expected over Y ~ Bernoulli(0.3) at prob 0.3: 0.3*0.49 + 0.7*0.09 = 0.21.
    assert ev.brier([0.3], [0.3]) == pytest.approx(0.21)


def test_expected_auroc_of_the_truth_matches_simulation():
    rng = np.random.default_rng(0)
    p = rng.beta(1, 15, 3000)
    simulated = np.mean([ev.auroc(rng.random(3000) < p, p) for _ in range(300)])
    assert ev.expected_auroc(p, p) == pytest.approx(simulated, abs=0.003)
    # Two children, p = 1 and 0: the first is always the case, ranked above -> 1; ranked below -> 0.
    assert ev.expected_auroc([1.0, 0.0], [0.9, 0.1]) == 1.0
    assert ev.expected_auroc([1.0, 0.0], [0.1, 0.9]) == 0.0


def test_calibration_table_and_ece_on_known_bins():
    y = np.array([0, 0, 0, 1, 1, 1, 1, 0])
    p = np.array([0.1, 0.1, 0.1, 0.1, 0.6, 0.6, 0.6, 0.6])
    table = ev.calibration_table(y, p, bins=2)
    assert table["n"].tolist() == [4, 4]
    assert table["mean_predicted"].tolist() == pytest.approx([0.1, 0.6])
    assert table["observed_rate"].tolist() == pytest.approx([0.25, 0.75])
    assert ev.expected_calibration_error(y, p, bins=2) == pytest.approx(0.15)


def test_top_k_ppv_sensitivity_lift():
    out = ev.top_k(Y, S, 3, ids=IDS)
    assert out["ppv"] == pytest.approx(2 / 3)
    assert out["sensitivity"] == pytest.approx(2 / 3)
    assert out["lift"] == pytest.approx((2 / 3) / 0.3)
    assert ev.top_share(Y, S, 0.1, ids=IDS)["k"] == 1 and ev.top_share(Y, S, 0.1, ids=IDS)["ppv"] == 1.0


def test_ties_at_the_cut_are_broken_by_person_id_as_on_the_worklist():
    # Top 2 of four tied scores: the two smallest person_ids, whatever the row order.
    assert ev.top_k([1, 1, 0, 0], [1, 1, 1, 1], 2, ids=["d", "c", "b", "a"])["events"] == 0
    assert ev.top_k([1, 1, 0, 0], [1, 1, 1, 1], 2, ids=["a", "b", "c", "d"])["events"] == 2
    assert ev.top_k([1, 0, 1, 0], [2, 1, 1, 1], 2, ids=["z", "y", "a", "b"])["events"] == 2


def test_capacity_is_per_month():
    y = np.array([1, 0, 0, 0, 1, 1])
    s = np.array([0.9, 0.8, 0.1, 0.7, 0.2, 0.6])
    month = np.array(["a", "a", "a", "b", "b", "b"])
    out = ev.at_capacity(y, s, month, capacity=1, ids=_ids(6))
    # Month a flags the first child (a case), month b flags 0.7 (not a case).
    assert out["k"] == 2 and out["ppv"] == 0.5 and out["sensitivity"] == pytest.approx(1 / 3)
    assert ev.at_capacity(y, s, month, capacity=10, ids=_ids(6))["k"] == 6


def test_expected_top_k_uses_probabilities():
    out = ev.top_k([0.5, 0.1, 0.2], [3, 2, 1], 2, ids=_ids(3))
    assert out["ppv"] == pytest.approx(0.3) and out["sensitivity"] == pytest.approx(0.6 / 0.8)


def test_evaluate_scores_reports_everything_and_oracle_ratio():
    rng = np.random.default_rng(1)
    p = rng.beta(1, 10, 2000)
    y = (rng.random(2000) < p).astype(int)
    month = np.repeat(["2025-04", "2025-05"], 1000)
    oracle = ev.evaluate_scores(y, p, month, 20, ids=_ids(2000), prob=p, p_true=p)
    noisy = p + rng.normal(0, 0.05, 2000)
    model = ev.evaluate_scores(y, noisy, month, 20, ids=_ids(2000), prob=np.clip(noisy, 0, 1), p_true=p)
    for key in ("auroc", "auprc", "brier", "ece", "calibration", "top", "capacity", "expected"):
        assert key in model
    assert set(model["top"]) == {"0.01", "0.02", "0.05"}
    ratio = ev.ratio_to_oracle(model, oracle)
    assert 0 < ratio["expected_auroc"] < 1


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError, match="same length"):
        ev.auroc([1, 0], [0.1])
    with pytest.raises(ValueError, match="missing"):
        ev.auroc([1, 0], [0.1, float("nan")])
