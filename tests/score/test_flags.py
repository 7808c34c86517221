"""Ranks and tiers, suppression from care management, flags at capacity, households together."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from riskstrat.scoring.flags import TIERS, rank_scores, select_flags
from riskstrat.scoring.households import household_keys, household_order
from riskstrat.scoring.suppression import suppression

AS_OF = date(2025, 6, 30)


def test_rank_percentile_and_tier():
    ids = [f"P{i:03d}" for i in range(200)]
    scores = np.linspace(0.001, 0.5, 200)
    ranked = rank_scores(ids, scores)
    assert ranked["rank"].tolist() == list(range(1, 201))
    assert ranked.loc[0, "person_id"] == "P199" and ranked.loc[0, "percentile"] == 100
    assert ranked["tier"].value_counts().to_dict() == {"standard": 160, "elevated": 30, "high": 8, "very high": 2}
    assert [t for t, _ in TIERS] == ["very high", "high", "elevated", "standard"]


def test_ties_rank_by_person_id_and_share_a_percentile():
    ranked = rank_scores(["B", "A", "C"], [0.2, 0.2, 0.1])
    assert ranked["person_id"].tolist() == ["A", "B", "C"]
    assert ranked["percentile"].tolist()[:2] == [100.0, 100.0]


def cm(*rows):
    return pd.DataFrame(rows, columns=["person_id", "program", "status", "status_date"]).assign(
        status_date=lambda f: pd.to_datetime(f["status_date"]).dt.date)


def test_suppression_rules():
    people = ["ENROLLED", "DISCHARGED", "DECLINED_RECENT", "DECLINED_OLD", "UNREACHABLE", "REFERRED",
              "RE_ENROLLED", "FUTURE", "TWO_PROGRAMS", "NONE"]
    frame = cm(
        ("ENROLLED", "cares", "enrolled", "2024-01-05"),
        ("DISCHARGED", "cares", "enrolled", "2024-01-05"),
        ("DISCHARGED", "cares", "discharged", "2025-04-01"),
        ("DECLINED_RECENT", "stronger_together", "declined", "2025-01-01"),  # 180 days before 30 June
        ("DECLINED_OLD", "stronger_together", "declined", "2024-12-31"),     # 181 days
        ("UNREACHABLE", "cares", "unable_to_reach", "2025-06-01"),
        ("REFERRED", "cares", "referred", "2025-06-01"),
        ("RE_ENROLLED", "cares", "declined", "2025-03-01"),
        ("RE_ENROLLED", "cares", "enrolled", "2025-05-01"),
        ("FUTURE", "cares", "declined", "2025-07-02"),
        ("TWO_PROGRAMS", "cares", "declined", "2025-06-10"),
        ("TWO_PROGRAMS", "stronger_together", "enrolled", "2024-02-01"),
    )
    out = suppression(people, frame, AS_OF, suppress_days=180).set_index("person_id")
    assert out["suppressed"].to_dict() == {
        "ENROLLED": True, "DISCHARGED": False, "DECLINED_RECENT": True, "DECLINED_OLD": False, "UNREACHABLE": True,
        "REFERRED": False, "RE_ENROLLED": True, "FUTURE": False, "TWO_PROGRAMS": True, "NONE": False,
    }
    assert out.loc["ENROLLED", "suppression_reason"] == "enrolled in cares (since 2024-01-05)"
    assert out.loc["DECLINED_RECENT", "suppression_reason"] == "declined stronger together on 2025-01-01"
    assert out.loc["UNREACHABLE", "suppression"] == "unable_to_reach"
    assert out.loc["TWO_PROGRAMS", "suppression"] == "enrolled"
    assert pd.isna(out.loc["NONE", "suppression_reason"])
    none = suppression(people, frame, AS_OF, suppress_days=0).set_index("person_id")
    assert not none.loc["DECLINED_RECENT", "suppressed"] and none.loc["ENROLLED", "suppressed"]


def test_a_programmes_list_counts_its_own_statuses_and_other_programmes_enrolments():
    people = ["DECLINED_ST", "DECLINED_CARES", "ENROLLED_CARES", "UNREACHABLE_ST", "DISCHARGED_CARES", "NONE"]
    frame = cm(
        ("DECLINED_ST", "stronger_together", "declined", "2025-05-20"),
        ("DECLINED_CARES", "cares", "declined", "2025-05-20"),
        ("ENROLLED_CARES", "cares", "enrolled", "2025-03-01"),
        ("UNREACHABLE_ST", "stronger_together", "unable_to_reach", "2025-06-01"),
        ("DISCHARGED_CARES", "cares", "enrolled", "2024-01-05"),
        ("DISCHARGED_CARES", "cares", "discharged", "2025-04-01"),
    )

    def kept_off(program):
        out = suppression(people, frame, AS_OF, 180, program).set_index("person_id")
        return {p: out.loc[p, "suppression_reason"] for p in people if out.loc[p, "suppressed"]}

    assert kept_off(None) == {
        "DECLINED_ST": "declined stronger together on 2025-05-20", "DECLINED_CARES": "declined cares on 2025-05-20",
        "ENROLLED_CARES": "enrolled in cares (since 2025-03-01)",
        "UNREACHABLE_ST": "could not be reached for stronger together on 2025-06-01"}
    # declining one programme leaves the other's list open; an enrolment anywhere closes every list
    assert kept_off("stronger_together") == {
        "DECLINED_ST": "declined stronger together on 2025-05-20", "ENROLLED_CARES": "enrolled in cares (since 2025-03-01)",
        "UNREACHABLE_ST": "could not be reached for stronger together on 2025-06-01"}
    assert kept_off("cares") == {
        "DECLINED_CARES": "declined cares on 2025-05-20", "ENROLLED_CARES": "enrolled in cares (since 2025-03-01)"}


def test_suppression_without_care_management_data():
    out = suppression(["A"], None, AS_OF, 180)
    assert out["suppressed"].tolist() == [False]


def test_suppressed_children_do_not_use_capacity():
    ranked = rank_scores([f"P{i}" for i in range(6)], [0.9, 0.8, 0.7, 0.6, 0.5, 0.1])
    ranked["suppressed"] = ranked["person_id"].isin(["P0", "P2"])
    why = select_flags(ranked, capacity=3)
    assert ranked.loc[why.notna(), "person_id"].tolist() == ["P1", "P3", "P4"]
    assert set(why.dropna()) == {"capacity"}
    with_threshold = select_flags(ranked, capacity=1, threshold=0.55)
    assert with_threshold.fillna("-").tolist() == ["-", "capacity", "-", "threshold", "-", "-"]


def test_siblings_are_listed_together_in_order_of_the_familys_best_rank():
    scores = pd.DataFrame({
        "person_id": ["A1", "B1", "A2", "C1", "B2", "A3", "D1"],
        "household_id": ["HA", "HB", "HA", "HC", "HB", "HA", None],
        "rank": [1, 2, 3, 4, 5, 6, 7],
        "flagged": [True, True, True, True, True, False, True],
    })
    scores["household_key"] = household_keys(scores["person_id"], scores["household_id"])
    out = household_order(scores)
    assert out["person_id"].tolist() == ["A1", "A2", "B1", "B2", "C1", "D1"]
    assert out["household_group"].tolist() == [1, 1, 2, 2, 3, 4]
    assert out["worklist_position"].tolist() == [1, 2, 3, 4, 5, 6]
    assert out.set_index("person_id")["household_not_listed"].to_dict() == {
        "A1": 1, "A2": 1, "B1": 0, "B2": 0, "C1": 0, "D1": 0}


def test_children_without_a_subscriber_are_their_own_household():
    keys = household_keys(pd.Series(["X", "Y"], dtype="string"), pd.Series([None, ""], dtype="string"))
    assert keys.tolist() == ["person:X", "person:Y"]
