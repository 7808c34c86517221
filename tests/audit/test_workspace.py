"""Reading a workspace for the audit: outputs, groups from the lake, SHAP matrices, flags."""

import json
import shutil
from datetime import date

import pandas as pd
import pytest

from riskstrat.audit import workspace as W
from riskstrat.audit.workspace import AuditError
from riskstrat.core.workspace import output_months
from riskstrat.features import FeatureError


def _eligibility(root, month: str) -> None:
    rows = pd.DataFrame({
        "person_id": ["a", "a", "b", "c"],
        "member_id": ["1", "1", "2", "3"],
        "gender": ["female", "female", "male", None],
        "race": ["white", "black", None, "asian"],  # a's latest span says black
        "ethnicity": ["hispanic", "hispanic", "not hispanic", "unknown"],
        "birth_date": [date(2015, 6, 30), date(2015, 6, 30), date(2025, 1, 1), date(2007, 7, 1)],
        "enrollment_start_date": [date(2020, 1, 1), date(2024, 1, 1), date(2025, 1, 1), date(2010, 1, 1)],
        "aid_category": ["tanf", "foster_care", "chip", "ssi_disabled"],
        "zip_code": ["30303", "30303", "31201", None],
        "subscriber_id": ["s1", "s1", "s2", "s3"],
        "enrollment_end_date": [None, None, None, None],
        "death_date": [None, None, None, None],
        "source_file": "eligibility.csv",
        "source_row": [1, 2, 3, 4],
    }).astype({"enrollment_end_date": "datetime64[s]", "death_date": "datetime64[s]"})
    path = root / "lake" / "eligibility" / f"delivery_month={month}"
    path.mkdir(parents=True)
    rows.to_parquet(path / "part-0.parquet")


def test_month_groups_from_the_eligibility_snapshot(tmp_path):
    _eligibility(tmp_path, "2025-06")
    g = W.month_groups(tmp_path, "2025-06").set_index("person_id")
    assert list(g.index) == ["a", "b", "c"]
    assert g.loc["a", "race"] == "black" and g.loc["a", "aid_category"] == "foster_care"
    # Ages on 2025-06-30: a turns 10 that day, b is 0, c is 17 (18 on 1 July).
    assert list(g["age_band"]) == ["6-11", "under 1", "12-17"]
    assert list(g["region"]) == ["ZIP3 303", "ZIP3 312", "unknown"]
    assert g.loc["c", "sex"] == "unknown" and g.loc["b", "race"] == "unknown"
    scored = W.month_groups(tmp_path, "2025-06", pd.DataFrame({"person_id": ["a", "b", "c"], "age": [9, 1, 18]}))
    assert list(scored["age_band"]) == ["6-11", "1-5", "18-20"]
    # given ages, only their persons are grouped (a programme's test rows, not the whole snapshot)
    only = W.month_groups(tmp_path, "2025-06", pd.DataFrame({"person_id": ["c"], "age": [18]}))
    assert only["person_id"].tolist() == ["c"] and only["age_band"].tolist() == ["18-20"]
    with pytest.raises(FeatureError, match="no eligibility snapshot delivered in 2025-07"):
        W.month_groups(tmp_path, "2025-07")


def test_outputs_are_read_and_checked(tmp_path):
    month = tmp_path / "outputs" / "2025-06"
    month.mkdir(parents=True)
    pd.DataFrame({"person_id": ["a", "b"], "score": [0.2, 0.1], "flagged": [True, False],
                  "model_id": "m-2025-06-0000abcd"}).to_parquet(month / "scores.parquet")
    (tmp_path / "outputs" / "2025-05").mkdir()  # a month folder without scores is not a scored month
    assert output_months(tmp_path) == ["2025-06"]
    scores = W.read_scores(tmp_path, "2025-06")
    assert scores["flagged"].tolist() == [1, 0]
    assert W.scoring_model_id(tmp_path, "2025-06", scores) == "m-2025-06-0000abcd"
    (month / "run.json").write_text(json.dumps({"model": {"model_id": "m-2025-06-1111abcd"}}))
    assert W.scoring_model_id(tmp_path, "2025-06") == "m-2025-06-1111abcd"
    with pytest.raises(AuditError, match="explanations.parquet: missing"):
        W.read_explanations(tmp_path, "2025-06")
    pd.DataFrame({"person_id": ["a"], "feature": ["x"]}).to_parquet(month / "explanations.parquet")
    with pytest.raises(AuditError, match="explanations.parquet: has no column feature_value, shap_value"):
        W.read_explanations(tmp_path, "2025-06")
    # a child flagged on two lists has each list's model's rows: an audit of one list reads its own
    two = pd.DataFrame({"list": ["acute_event", "cares"], "person_id": ["a", "a"], "feature": ["x", "x"],
                        "feature_value": [1.0, 1.0], "shap_value": [0.3, -0.1]})
    two.to_parquet(month / "explanations.parquet")
    assert W.read_explanations(tmp_path, "2025-06", "cares")["shap_value"].tolist() == [-0.1]
    assert len(W.read_explanations(tmp_path, "2025-06")) == 2
    two.drop(columns="list").iloc[:1].to_parquet(month / "explanations.parquet")  # published before lists
    assert len(W.read_explanations(tmp_path, "2025-06", "acute_event")) == 1
    assert W.read_explanations(tmp_path, "2025-06", "cares").empty


def test_shap_matrices():
    long = pd.DataFrame({"person_id": ["a", "a", "b", "b"], "feature": ["x", "y", "x", "y"],
                         "feature_value": [1.0, 2.0, 3.0, 4.0], "shap_value": [0.1, 0.2, 0.3, 0.4]})
    values, features = W.shap_matrices(long, ["y", "x"])
    assert list(values.columns) == ["y", "x"] and values.loc["b", "x"] == 0.3 and features.loc["a", "y"] == 2.0


def test_month_groups_read_a_snapshot_once_for_a_caller_that_keeps_them(tmp_path):
    _eligibility(tmp_path, "2025-06")
    snapshots = {}
    first = W.month_groups(tmp_path, "2025-06", snapshots=snapshots)
    assert list(snapshots) == ["2025-06"]
    kept = snapshots["2025-06"].copy()
    shutil.rmtree(tmp_path / "lake" / "eligibility")  # a second read of the lake would now fail
    ages = pd.DataFrame({"person_id": ["a", "b", "c"], "age": [9, 1, 18]})
    scored = W.month_groups(tmp_path, "2025-06", ages, snapshots=snapshots)
    assert list(scored["age_band"]) == ["6-11", "1-5", "18-20"]
    pd.testing.assert_frame_equal(W.month_groups(tmp_path, "2025-06", snapshots=snapshots), first)
    pd.testing.assert_frame_equal(snapshots["2025-06"], kept)  # the ages of one caller do not stay behind
