"""SHAP values add up to the model's raw score, and reasons are the child's own facts that raise risk."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scorekit import feature_frame

from riskstrat.features import reason_text
from riskstrat.scoring import explain


def test_base_plus_shap_equals_raw_score_for_every_child(model):
    frame = feature_frame(400, seed=5)
    X = explain.model_matrix(model, frame)
    values, base = explain.shap_contributions(model, X)
    raw = model.raw_score(frame)
    assert values.shape == (400, len(model.feature_names))
    np.testing.assert_allclose(base + values.sum(axis=1), raw, rtol=0, atol=1e-6)


def test_explanations_frame_has_every_feature_of_every_child(model):
    frame = feature_frame(7, seed=6)
    X = explain.model_matrix(model, frame)
    values, base = explain.shap_contributions(model, X)
    long = explain.explanations_frame(frame["person_id"], X, values, base)
    assert list(long.columns) == ["person_id", "feature", "feature_value", "shap_value", "base_value"]
    assert len(long) == 7 * len(model.feature_names)
    per_child = long.groupby("person_id").agg(shap=("shap_value", "sum"), base=("base_value", "first"))
    raw = pd.Series(model.raw_score(frame), index=frame["person_id"])
    np.testing.assert_allclose((per_child["shap"] + per_child["base"]).loc[raw.index], raw, atol=1e-6)
    one = long[(long["person_id"] == "C00003") & (long["feature"] == "ed_visits_12m")]
    assert one["feature_value"].item() == frame.loc[3, "ed_visits_12m"]


def test_reasons_are_present_facts_that_raise_risk_in_plain_language():
    X = pd.DataFrame({
        "ed_visits_6m": [3.0], "dx_self_harm_12m": [0.0], "no_dental_visit_12m": [1.0], "ip_admits_12m": [2.0],
        "bh_ed_visits_12m": [1.0],
    })
    # self-harm absent but "raising" risk, admissions lowering it: neither may be a reason.
    values = np.array([[0.50, 0.90, 0.10, -0.40, 0.30]])
    reasons = explain.top_reasons(X, values, n=3)[0]
    assert [f for f, _ in reasons] == ["ed_visits_6m", "bh_ed_visits_12m", "no_dental_visit_12m"]
    assert reasons[0][1] == "3 ED visits in the last 6 months"
    assert reasons[1][1] == "1 behavioural-health ED visit in the last 12 months"
    assert reasons[2][1] == "No dental visit in the last 12 months"
    assert explain.top_reasons(X, values, n=1)[0] == [("ed_visits_6m", "3 ED visits in the last 6 months")]
    assert explain.top_reasons(X, -np.abs(values), n=3)[0] == []


def test_a_trend_is_a_reason_only_when_it_rises():
    # A fall the model reads as risk must not be worded "rising (-0.11 a month ...)".
    X = pd.DataFrame({"ed_visits_trend": [-0.11, 0.33], "paid_pmpm_trend": [-453.0, 120.0], "ed_visits_12m": [2.0, 2.0]})
    reasons = explain.top_reasons(X, np.array([[0.9, 0.8, 0.1], [0.9, 0.8, 0.1]]), n=3)
    assert reasons[0] == [("ed_visits_12m", "2 ED visits in the last 12 months")]
    assert [f for f, _ in reasons[1]] == ["ed_visits_trend", "paid_pmpm_trend", "ed_visits_12m"]
    assert reasons[1][0][1] == "ED visits rising (+0.33 a month vs the 9 months before)"
    assert reasons[1][1][1] == "Cost rising ($120 a month more than the 9 months before)"


def test_demographics_are_never_worded_as_reasons():
    X = pd.DataFrame({"age_years": [2.0], "sex_female": [1.0], "ed_visits_12m": [1.0]})
    reasons = explain.top_reasons(X, np.array([[0.9, 0.8, 0.1]]), n=3)[0]
    assert reasons == [("ed_visits_12m", "1 ED visit in the last 12 months")]


def test_model_reasons_match_shap_and_the_childs_values(model):
    frame = feature_frame(200, seed=7)
    X = explain.model_matrix(model, frame)
    values, _ = explain.shap_contributions(model, X)
    names = list(X.columns)
    for i, reasons in enumerate(explain.top_reasons(X, values, n=3)):
        shap_of = dict(zip(names, values[i], strict=True))
        for feature, text in reasons:
            assert shap_of[feature] > 0
            assert text == reason_text(feature, frame.loc[i, feature])
        assert [shap_of[f] for f, _ in reasons] == sorted((shap_of[f] for f, _ in reasons), reverse=True)


def test_global_summary_is_a_fixed_sample_sorted_by_importance(model):
    frame = feature_frame(300, seed=8)
    X = explain.model_matrix(model, frame)
    one = explain.global_summary(model, X, rows=100)
    two = explain.global_summary(model, X, rows=100)
    pd.testing.assert_frame_equal(one, two)
    assert one["rows"].iloc[0] == 100
    assert one["mean_abs_shap"].is_monotonic_decreasing
    assert set(one["feature"]) == set(model.feature_names)
