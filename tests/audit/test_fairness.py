"""Fairness metrics on small frames whose answers are worked out by hand here."""

import math

import numpy as np
import pandas as pd
import pytest

from riskstrat.audit import fairness as F

Z = 1.959963984540054


def wilson_by_hand(k: int, n: int, z: float = Z) -> tuple[float, float]:
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return centre - half, centre + half


def two_groups() -> pd.DataFrame:
    """Group a: 10 children, 4 flagged, 5 with the outcome, 3 both; score 0.3 each.
    Group b: 10 children, 1 flagged, 2 with the outcome, 1 both; score 0.2 each."""
    a = pd.DataFrame({"group": "a", "score": 0.3,
                      "flagged": [1, 1, 1, 1, 0, 0, 0, 0, 0, 0],
                      "outcome": [1, 1, 1, 0, 1, 1, 0, 0, 0, 0]})
    b = pd.DataFrame({"group": "b", "score": 0.2,
                      "flagged": [1, 0, 0, 0, 0, 0, 0, 0, 0, 0],
                      "outcome": [1, 1, 0, 0, 0, 0, 0, 0, 0, 0]})
    return pd.concat([a, b], ignore_index=True)


def test_wilson_matches_the_formula():
    for k, n in [(3, 10), (0, 10), (10, 10), (17, 250)]:
        assert F.wilson(k, n) == pytest.approx(wilson_by_hand(k, n), abs=1e-12)
    assert all(math.isnan(v) for v in F.wilson(0, 0))


def test_fairness_table_counts_rates_and_intervals():
    t = F.fairness_table(two_groups(), ["group"], min_n=5).set_index("group")
    a, b, plan = t.loc["a"], t.loc["b"], t.loc[F.ALL]
    assert (a["n"], a["flagged"], a["events"], a["hits"]) == (10, 4, 5, 3)
    assert (plan["n"], plan["flagged"], plan["events"], plan["hits"]) == (20, 5, 7, 4)
    assert a["share"] == 0.5 and (a["share_lo"], a["share_hi"]) == pytest.approx(wilson_by_hand(10, 20))
    assert a["flag_rate"] == 0.4 and (a["flag_rate_lo"], a["flag_rate_hi"]) == pytest.approx(wilson_by_hand(4, 10))
    assert a["outcome_rate"] == 0.5 and (a["outcome_rate_lo"], a["outcome_rate_hi"]) == pytest.approx(wilson_by_hand(5, 10))
    assert a["tpr"] == 0.6 and (a["tpr_lo"], a["tpr_hi"]) == pytest.approx(wilson_by_hand(3, 5))
    assert a["ppv"] == 0.75 and (a["ppv_lo"], a["ppv_hi"]) == pytest.approx(wilson_by_hand(3, 4))
    assert b["ppv"] == 1.0 and (b["ppv_lo"], b["ppv_hi"]) == pytest.approx(wilson_by_hand(1, 1))
    # Calibration: a is predicted 0.3 and observed 0.5, so the model under-predicts by 0.2.
    assert a["mean_predicted"] == pytest.approx(0.3) and a["observed"] == 0.5
    assert a["citl"] == pytest.approx(0.2)
    # y - 0.3 has the spread of y: five ones in ten, sample sd sqrt(10/9 * 1/4).
    half = Z * math.sqrt(10 / 9 * 0.25) / math.sqrt(10)
    assert (a["citl_lo"], a["citl_hi"]) == pytest.approx((0.2 - half, 0.2 + half))
    # A constant score has no spread: its mean is known exactly.
    assert (a["mean_predicted_lo"], a["mean_predicted_hi"]) == pytest.approx((0.3, 0.3))
    assert a["oe_ratio"] == pytest.approx(0.5 / 0.3)
    assert a["oe_ratio_lo"] == pytest.approx(wilson_by_hand(5, 10)[0] / 0.3)
    assert plan["mean_predicted"] == pytest.approx(0.25)
    assert not t["too_small"].any()


def test_a_month_without_outcomes_yet():
    t = F.fairness_table(two_groups().drop(columns="outcome"), ["group"], outcome=None, min_n=5).set_index("group")
    assert t.loc["a", "flag_rate"] == 0.4 and t.loc["a", "mean_predicted"] == pytest.approx(0.3)
    assert t[["outcome_rate", "tpr", "ppv", "citl", "oe_ratio"]].isna().all().all()
    # only the flag rate could be measured, so only it is said to be equal
    assert F.largest_gaps(t.reset_index().assign(too_small=False))[0] == (
        "No group differs from the other children on flag rate beyond its 95% confidence interval.")
    # every group too small: nothing was judged, so nothing may be said to be equal
    assert F.largest_gaps(t.reset_index().assign(too_small=True))[0] == "No group could be judged: every group is too small."


def test_overall_row_per_attribute_and_unknown_for_missing_values():
    frame = two_groups()
    frame["sex"] = ["female"] * 12 + [None] * 8
    t = F.fairness_table(frame, ["group", "sex"], min_n=5)
    assert list(t["attribute"].unique()) == ["group", "sex"]
    sex = t[t["attribute"] == "sex"].set_index("group")
    assert set(sex.index) == {F.ALL, "female", "unknown"}
    assert sex.loc["unknown", "n"] == 8 and sex.loc[F.ALL, "n"] == 20


def test_small_groups_are_marked_not_hidden():
    t = F.fairness_table(two_groups(), ["group"], min_n=11)
    assert set(t["group"]) == {F.ALL, "a", "b"}
    assert t.set_index("group").loc[["a", "b"], "too_small"].all()
    gaps = F.largest_gaps(t)
    assert gaps[-1].startswith("Too few children to judge (under 11)")
    assert "(n = 10)" in gaps[-1]


def test_bad_input_is_refused_with_the_column_named():
    frame = two_groups()
    frame.loc[0, "flagged"] = 2
    with pytest.raises(ValueError, match="flagged must be 0/1"):
        F.fairness_table(frame, ["group"])
    with pytest.raises(ValueError, match="'region'"):
        F.fairness_table(two_groups(), ["region"])


def test_katz_ratio_interval_by_hand():
    ratio, lo, hi = F.ratio_interval(40, 100, 10, 100)
    se = math.sqrt(1 / 40 - 1 / 100 + 1 / 10 - 1 / 100)
    assert ratio == pytest.approx(4.0)
    assert (lo, hi) == pytest.approx((4 * math.exp(-Z * se), 4 * math.exp(Z * se)))
    # A zero count still gets a finite interval (0.5 added to every cell).
    r0, lo0, hi0 = F.ratio_interval(0, 50, 10, 100)
    assert r0 == pytest.approx((0.5 / 50.5) / (10.5 / 100.5)) and 0 < lo0 < r0 < hi0 < math.inf


def test_largest_gaps_in_words():
    # Foster care children: 40 of 100 flagged; the other 900 children: 90 flagged (10%).
    n_fc, n_other = 100, 900
    frame = pd.DataFrame({
        "aid_category": ["foster_care"] * n_fc + ["tanf"] * n_other,
        "flagged": [1] * 40 + [0] * 60 + [1] * 90 + [0] * 810,
        "score": [0.4] * n_fc + [0.1] * n_other,  # calibrated in each group
    })
    frame["outcome"] = frame["flagged"]  # perfect flags; outcome rates gap as much as flag rates
    t = F.fairness_table(frame, ["aid_category"])
    gaps = F.largest_gaps(t, top=3)
    _, lo, hi = F.ratio_interval(40, 100, 90, 900)
    assert gaps[0] == (f"Flag rate for foster care children (aid category) is 4.0x that of other children "
                       f"(95% CI {lo:.1f}–{hi:.1f}): 40.0% vs 10.0%; plan average 13.0%.")
    # Two groups: the mirrored "tanf is 0.25x" sentence is not told again.
    assert not any(g.startswith("Flag rate for tanf") for g in gaps)
    assert gaps[1].startswith("Outcome rate for foster care children (aid category) is 4.0x")
    assert not any("predicts for" in g for g in gaps)  # calibrated within each group: no calibration gap


def test_no_clear_gap_is_said_in_words():
    frame = pd.DataFrame({"sex": ["female", "male"] * 200, "flagged": [1, 1, 0, 0] * 100,
                          "outcome": [1, 1, 0, 0] * 100, "score": 0.5})
    gaps = F.largest_gaps(F.fairness_table(frame, ["sex"]))
    assert gaps == ["No group differs from the other children on flag rate, outcome rate, TPR, PPV or calibration "
                    "beyond its 95% confidence interval."]


def test_audit_groups_bands_regions_and_unknowns():
    members = pd.DataFrame({
        "person_id": list("abcdefgh"),
        "race": ["White", "black", None, "", "asian", "white", "other", "white"],
        "gender": ["female", "male", "unknown", "female", None, "male", "female", "male"],
        "age_years": [0, 1, 5, 6, 17, 18, 21, None],
        "aid_category": ["foster_care", "tanf", None, "chip", "tanf", "tanf", "tanf", "ssi_disabled"],
        "zip_code": ["30303", "31201", "3", None, "30601-1234", "abc12", "30303", "31401"],
    })
    g = F.audit_groups(members)
    assert list(g.columns) == ["person_id", *F.GROUP_COLUMNS]
    assert list(g["age_band"]) == ["under 1", "1-5", "1-5", "6-11", "12-17", "18-20", "unknown", "unknown"]
    assert list(g["race"][:4]) == ["white", "black", "unknown", "unknown"]
    assert g["sex"][4] == "unknown" and g["ethnicity"].eq("unknown").all()
    assert list(g["region"]) == ["ZIP3 303", "ZIP3 312", "unknown", "unknown", "ZIP3 306", "unknown", "ZIP3 303", "ZIP3 314"]


def test_group_calibration_uses_each_groups_own_bins():
    frame = two_groups()
    cal = F.group_calibration(frame, "group", bins=2)
    a = cal[cal["group"] == "a"]
    assert list(a["n"]) == [5, 5] and a["mean_predicted"].tolist() == pytest.approx([0.3, 0.3])
    assert a["observed_rate"].mean() == pytest.approx(0.5)


# ---------------------------------------------------------------------------------------------
# Obermeyer: need at equal score


def test_need_gap_known_answer():
    # Two score bins; in each, group g carries exactly 1 more chronic condition than group r.
    frame = pd.DataFrame({
        "score": [0.1] * 4 + [0.9] * 4,
        "race": ["r", "r", "g", "g"] * 2,
        "chronic": [0, 2, 1, 3, 2, 4, 3, 5],
    })
    check = F.need_at_equal_score(frame, "race", ["chronic"], bins=2, reference="r", min_n=1)
    s = check.summary.iloc[0]
    assert (s["group"], s["reference"], s["bins"]) == ("g", "r", 2)
    assert s["gap"] == pytest.approx(1.0)
    # Each cell: n = 2, sample variance 2; weights 2 and 2: var = (4*(1+1) + 4*(1+1)) / 16 = 1.
    assert (s["lo"], s["hi"]) == pytest.approx((1 - Z, 1 + Z))
    assert s["reference_mean"] == pytest.approx(2.0) and s["relative_gap"] == pytest.approx(0.5)
    cells = check.table.set_index(["bin", "group"])
    assert cells.loc[(1, "g"), "mean"] == 4.0 and cells.loc[(0, "r"), "n"] == 2
    assert check.table["measure"].eq("chronic").all()


def test_need_gap_found_where_the_score_under_serves_a_group():
    rng = np.random.default_rng(11)
    n = 8000
    group = rng.choice(["black", "white"], n)
    need = rng.poisson(1.0, n) + (group == "black") * rng.poisson(0.5, n)
    # The score sees only part of the need and none of the group's extra need (as a cost label would).
    score = 1 / (1 + np.exp(-(-3 + 0.5 * np.minimum(need, rng.poisson(1.0, n)) + rng.normal(0, 0.3, n))))
    outcome = (rng.random(n) < 1 / (1 + np.exp(-(-3 + 0.6 * need)))).astype(int)
    frame = pd.DataFrame({"score": score, "race": group, "chronic": need, "outcome": outcome})
    check = F.need_at_equal_score(frame, "race", ["outcome", "chronic"], reference="white")
    s = check.summary.set_index("measure")
    assert s.loc["chronic", "lo"] > 0.3 and s.loc["outcome", "lo"] > 0
    words = F.describe_need_gaps(check)
    assert words[0].startswith("At the same score, black children (race) have a mean chronic") and "higher" in words[0]
    svg = F.need_plot_svg(check, "chronic")
    assert svg.startswith("<svg") and "reference" in svg
    assert svg == F.need_plot_svg(check, "chronic")  # no dates or random ids: the report is reproducible


def test_need_gap_marks_small_groups_and_default_reference_is_largest():
    frame = pd.DataFrame({"score": np.linspace(0, 1, 300), "sex": ["female"] * 200 + ["male"] * 95 + ["unknown"] * 5,
                          "outcome": [0, 1] * 150})
    check = F.need_at_equal_score(frame, "sex", bins=5)
    assert check.reference == "female"
    s = check.summary.set_index("group")
    assert s.loc["unknown", "too_small"] and s.loc["male", "too_small"]
    assert F.describe_need_gaps(check)[-1].startswith("children with unknown sex: too few children to judge (n = 5")
