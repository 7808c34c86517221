"""Who is compared with whom, on hand-built frames: the rules of riskstrat.evaluation.cohort one by one."""

from __future__ import annotations

import pandas as pd

from riskstrat.evaluation.cohort import candidates, with_history


def _scores() -> pd.DataFrame:
    rows = [  # index month, person, score, flagged
        ("2024-01", "A", 0.30, True), ("2024-01", "B", 0.25, True), ("2024-01", "C", 0.40, True),
        ("2024-01", "D", 0.20, True), ("2024-01", "E", 0.01, False), ("2024-01", "F", 0.35, False),
        ("2024-02", "A", 0.28, True), ("2024-02", "B", 0.22, True), ("2024-02", "D", 0.33, True),
        ("2024-02", "E", 0.02, False),
    ]
    frame = pd.DataFrame(rows, columns=["index_month", "person_id", "score", "flagged"])
    frame["person_id"] = frame["person_id"].astype("string")
    return frame


def _enrolled() -> pd.DataFrame:
    return pd.DataFrame({
        "person_id": pd.array(["A", "C", "D", "F"], dtype="string"),
        "program": pd.array(["stronger_together", "cares", "stronger_together", "cares"], dtype="string"),
        "enrolled_on": pd.to_datetime(["2024-01-10", "2023-06-01", "2024-02-05", "2024-05-20"]),
    })


def test_enrolled_children_and_their_candidates_follow_the_rules():
    cohort = candidates("stronger_together", _scores(), _enrolled(), pre_months=12)
    c = cohort.candidates
    treated = set(zip(c.loc[c["treated"] == 1, "index_month"], c.loc[c["treated"] == 1, "person_id"]))
    pool = set(zip(c.loc[c["treated"] == 0, "index_month"], c.loc[c["treated"] == 0, "person_id"]))
    # A enrols in 2024-01, D in 2024-02: each is enrolled at its own index month only
    assert treated == {("2024-01", "A"), ("2024-02", "D")}
    # B (flagged, never enrolled) is a candidate both months; D (flagged), enrolling later, is one in 2024-01;
    # F scores above A without a flag; C was in a programme 7 months before (its pre-period); E
    # scores below every enrolled child and was not flagged; A, once enrolled, is a candidate no more
    assert pool == {("2024-01", "B"), ("2024-01", "D"), ("2024-01", "F"), ("2024-02", "B")}
    steps = dict(cohort.attrition)
    assert steps["first enrolled in stronger_together in the months evaluated"] == 2


def test_history_counts_use_before_the_index_month_and_the_recent_crisis():
    cohort = candidates("stronger_together", _scores(), _enrolled(), pre_months=12).candidates
    use = pd.DataFrame({
        "person_id": pd.array(["A"] * 4 + ["B"] * 2, dtype="string"),
        "month": ["2023-01", "2023-06", "2023-12", "2024-01", "2023-11", "2024-03"],
        "ip_admits": [1, 0, 1, 0, 0, 5], "ed_visits": [2, 1, 3, 4, 1, 9], "bh_crises": [0, 0, 1, 0, 0, 0],
        "paid": [100.0, 50.0, 300.0, 1000.0, 20.0, 999.0],
    })
    history = with_history(cohort, use, pre_months=12).set_index(["index_month", "person_id"])
    a = history.loc[("2024-01", "A")]
    # 2023-01 is 12 months before 2024-01 and counts; 2024-01 itself is the index month and does not
    assert (a["ip_admits_pre"], a["ed_visits_pre"], a["bh_crises_pre"]) == (2, 6, 1)
    assert a["pmpm_pre"] == (100 + 50 + 300) / 3  # per covered month: three months had a row
    assert a["acute_recent"] == 1 + 3 + 1         # the three months before (2023-12)
    assert a["acute_index"] == 4                  # the index month, apart
    b = history.loc[("2024-01", "B")]
    assert (b["ed_visits_pre"], b["acute_recent"], b["acute_index"]) == (1, 1, 0)  # 2024-03 is after the index month


def test_enrolment_dates_come_from_every_care_management_snapshot_and_the_outreach_log(tmp_path):
    from datetime import date

    from riskstrat.config import Settings
    from riskstrat.evaluation.cohort import enrolments
    from riskstrat.lake import connect
    from riskstrat.outreach.db import open_database
    from riskstrat.outreach.log import record_attempt

    for month, rows in (("2024-02", [("P1", "enrolled", "2024-02-20")]),
                        ("2024-03", [("P1", "discharged", "2024-03-30"), ("P3", "declined", "2024-03-02")])):
        folder = tmp_path / "lake" / "care_management" / f"delivery_month={month}"
        folder.mkdir(parents=True)
        pd.DataFrame([{"person_id": p, "program": "stronger_together", "status": s,
                       "status_date": pd.Timestamp(d).date()} for p, s, d in rows]).to_parquet(folder / "part-0.parquet")
    engine = open_database(tmp_path, Settings())
    for person, day in (("P1", date(2024, 3, 5)), ("P2", date(2024, 4, 1)), ("P2", date(2024, 6, 1))):
        record_attempt(engine, person_id=person, program="stronger_together", outcome="enrolled", attempt_date=day,
                       recorded_by="tester")
    record_attempt(engine, person_id="P4", program="stronger_together", outcome="declined",
                   attempt_date=date(2024, 4, 1), recorded_by="tester")
    known = enrolments(connect(tmp_path), tmp_path, Settings(), until=date(2024, 12, 31))
    # P1: the February snapshot's enrolment, though March's dropped it and the log says later;
    # P2: the log's first; P3 and P4 declined
    assert known[["person_id", "enrolled_on"]].astype(str).values.tolist() == [["P1", "2024-02-20"],
                                                                                ["P2", "2024-04-01"]]
    assert enrolments(connect(tmp_path), tmp_path, Settings(), until=date(2024, 3, 31))["person_id"].tolist() == ["P1"]
