"""Labels on the hand-built plan: outcomes in T+1..T+6 with run-out, leavers, maturity."""

from __future__ import annotations

import numpy as np
import pytest

from riskstrat.features import feature_names
from riskstrat.model.labels import LabelError, build_labels, build_training_frame

T = "2025-03"  # outcome window 2025-04 .. 2025-09, run-out to 2025-12


@pytest.fixture(scope="module")
def labels(full_lake):
    frame, attrition = build_labels(full_lake, T)
    return frame.set_index("person_id"), attrition


def test_outcomes_use_everything_known_later(labels):
    frame, _ = labels
    ed = frame.loc["P_ED"]
    # B (1 Apr), C (20 May), E (claim paid in July) and F (ADT sent in July) are all known by run-out.
    assert ed["ed_visits"] == 4 and ed["bh_ed_visits"] == 1
    assert ed["acute_event"] == 1 and ed["ed_2plus"] == 1 and ed["ip_admit"] == 0


def test_admission_and_high_cost(labels):
    frame, _ = labels
    ip = frame.loc["P_LABEL_IP"]
    assert ip["ip_admits"] == 1 and ip["ip_admit"] == 1 and ip["acute_event"] == 1
    assert ip["high_cost"] == 1  # the 20,000 stay is the top 5% of this small plan
    assert frame["high_cost"].sum() == 1
    quiet = frame.loc["P_QUIET"]
    assert quiet[["acute_event", "ed_2plus", "ip_admit", "high_cost"]].sum() == 0
    # P_IP's stays were before T: no outcome
    assert frame.loc["P_IP", "ip_admit"] == 0


def test_programme_outcomes(labels):
    frame, _ = labels
    sh = frame.loc["P_LABEL_SH"]
    # One self-harm event: the follow-up visit (D) and the history code do not count again.
    assert sh["self_harm_claims"] == 1 and sh["bh_crisis"] == 1
    assert sh["acute_event"] == 0 and sh["cares_acute"] == 0  # no visit to the ED, no admission
    ed = frame.loc["P_ED"]
    assert ed["bh_crisis"] == 1 and ed["cares_acute"] == 1  # a BH ED visit (C), and 4 ED visits
    ip = frame.loc["P_LABEL_IP"]
    assert ip["psych_ip_admits"] == 0 and ip["bh_crisis"] == 0 and ip["cares_acute"] == 1
    assert frame.loc["P_QUIET", "self_harm_claims"] == 0  # a history code alone is no event


def test_months_observed_for_a_child_who_leaves(labels):
    frame, attrition = labels
    assert frame.loc["P_LEFT", "months_observed"] == 2  # enrolled at the end of April and May only
    assert frame.loc["P_QUIET", "months_observed"] == 6
    assert attrition["children"].iloc[-1] == len(frame)


def test_training_frame_stacks_months_and_counts_attrition(full_lake):
    tf = build_training_frame(full_lake, ["2025-03", "2025-02"], outcome="acute_event")
    frame = tf.frame
    assert list(frame.columns) == ["person_id", "as_of", *feature_names(), "label"]
    assert sorted(frame["as_of"].unique()) == ["2025-02", "2025-03"]
    assert "P_LEFT" not in set(frame["person_id"])  # left without the outcome: dropped
    row = frame[(frame.person_id == "P_ED") & (frame.as_of == "2025-03")].iloc[0]
    assert row["label"] == 1
    steps = tf.attrition[tf.attrition.as_of == "2025-03"].set_index("step")["children"]
    dropped = [s for s in steps.index if s.startswith("left the plan in the window without")]
    assert steps[dropped[0]] == 1
    assert steps.iloc[-1] == (frame.as_of == "2025-03").sum()


def test_leaver_with_the_outcome_is_kept(full_lake, labels):
    frame, _ = labels
    assert frame.loc["P_LEFT_BH", "months_observed"] == 2 and frame.loc["P_LEFT_BH", "acute_event"] == 1
    tf = build_training_frame(full_lake, ["2025-03"], outcome="acute_event")
    assert tf.frame.set_index("person_id").loc["P_LEFT_BH", "label"] == 1
    steps = tf.attrition.set_index("step")["children"]
    assert steps["left the plan in the window after the outcome (kept)"] == 1


def test_refuses_months_that_have_not_matured(full_lake):
    with pytest.raises(LabelError, match="has not matured.*through 2026-01"):
        build_training_frame(full_lake, ["2025-03", "2025-04"])
    with pytest.raises(LabelError, match="unknown outcome"):
        build_training_frame(full_lake, ["2025-03"], outcome="death")
    # with no run-out the outcome window alone must be in the lake
    build_labels(full_lake, "2025-06", runout_months=0)


def test_labels_see_only_deliveries_known_at_the_cut(full_lake):
    # The lake runs to 2025-12; labels "known in 2025-08" must behave as if it ended there,
    # which is what keeps a model trained as of 2025-08 from learning later deliveries.
    with pytest.raises(LabelError, match="has not matured.*through 2025-08"):
        build_labels(full_lake, T, runout_months=0, known_month="2025-08")
    known, _ = build_labels(full_lake, T, runout_months=0, known_month="2025-09")
    assert known.set_index("person_id").loc["P_ED", "ed_visits"] == 4
    with pytest.raises(LabelError, match="deliveries through 2025-12"):
        build_labels(full_lake, T, known_month="2026-02")


def test_a_visit_begun_before_the_window_is_no_outcome(labels):
    frame, _ = labels
    assert frame.loc["P_20", "ed_visits"] == 0  # began 31 March, the as-of month


def test_months_labelled_together_equal_each_labelled_alone(full_lake):
    # The outcome events are read once for all months; each month's rows must not depend on which
    # other months were read with it.
    outcomes = ["acute_event", "bh_crisis", "cares_acute"]
    together = build_training_frame(full_lake, ["2025-01", "2025-02", "2025-03"], outcomes).frame
    for month in ("2025-01", "2025-03"):
        alone = build_training_frame(full_lake, [month], outcomes).frame
        assert len(alone) > 10
        assert together[together["as_of"] == month].reset_index(drop=True).equals(alone)


def test_a_cost_outcome_alone_reads_what_was_paid(full_lake, labels):
    # The lists of need never build the paid amounts (every pharmacy fill of the range); a cost
    # label asked for builds them and gets the labels every outcome gets.
    from riskstrat.features.concept_sql import concept_order
    from riskstrat.model.labels import _count_query

    for outcomes, builds_paid in ((["acute_event", "bh_crisis", "cares_acute"], False), (["high_cost"], True)):
        concepts = concept_order(_count_query(outcomes)[0])
        assert ("paid_amounts" in concepts, "pharmacy_fills" in concepts) == (builds_paid, builds_paid), outcomes
    frame = build_training_frame(full_lake, [T], "high_cost").frame.set_index("person_id")
    expected, _ = labels
    assert frame.loc["P_LABEL_IP", "label"] == 1
    assert frame["label"].equals(expected.loc[frame.index, "high_cost"].astype(frame["label"].dtype))


def test_a_frame_past_the_memory_budget_keeps_a_share_of_children_with_every_month(full_lake):
    from types import SimpleNamespace

    from riskstrat.config import ModelSettings, Settings
    from riskstrat.model import card
    from riskstrat.model.train import summed_steps

    months, outcomes = ["2025-01", "2025-02", "2025-03"], ["acute_event", "bh_crisis"]
    whole = build_training_frame(full_lake, months, outcomes)
    mb = whole.frame.memory_usage(deep=True, index=False).sum() / 2**20
    small = Settings(model=ModelSettings(training_frame_max_mb=mb / 2))
    sampled = build_training_frame(full_lake, months, outcomes, small)
    kept = set(sampled.frame["person_id"])
    assert 0 < len(kept) < whole.frame["person_id"].nunique()
    # a kept child keeps every month they have; their rows are the whole frame's, unchanged
    assert whole.frame[whole.frame["person_id"].isin(kept)].reset_index(drop=True).equals(sampled.frame.reset_index(drop=True))
    assert sampled.frame.memory_usage(deep=True, index=False).sum() / 2**20 < mb * 0.8
    # the rows the sample left out are gone from the array training reads, too
    names = [c for c in sampled.frame.columns if c not in ("person_id", "as_of", *outcomes)]
    assert sampled.matrix.shape == (len(sampled.frame), len(names))
    np.testing.assert_array_equal(sampled.frame[names].to_numpy(dtype=np.float32), sampled.matrix)
    steps = sampled.attrition[sampled.attrition["step"].str.startswith("kept by the memory sample")]
    assert sorted(steps["outcome"].unique()) == outcomes and len(steps) == len(months) * len(outcomes)
    for outcome, rows in steps.groupby("outcome"):
        assert rows["children"].sum() == sampled.frame[outcome].notna().sum()
    step = steps["step"].iloc[0]
    assert f"{len(whole.frame):,} child-months x " in step  # the rows of every month, before the sample
    assert f"model.training_frame_max_mb = {mb / 2:.3g} MB" in step
    words = card._memory_sample_words(SimpleNamespace(attrition=summed_steps(sampled.attrition)))
    assert "of children (a fixed hash of person_id)" in words and "child-months x" in words
    assert card._memory_sample_words(SimpleNamespace(attrition=summed_steps(whole.attrition))) == ""
