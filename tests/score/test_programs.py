"""Program match on hand-built children, and rules files that must be refused."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from riskstrat.features import feature_names
from riskstrat.scoring.programs import ProgramRulesError, load_programs


def children(**overrides) -> pd.DataFrame:
    """One row per keyword: {name: {feature: value}}; every other declared feature 0."""
    rows = []
    for name, values in overrides.items():
        row = {f: 0.0 for f in feature_names()}
        row.update(values)
        row["person_id"] = name
        rows.append(row)
    return pd.DataFrame(rows).set_index("person_id")


def test_shipped_rules_on_hand_built_children():
    frame = children(
        suicidal={"dx_suicidal_ideation_12m": 1},
        self_harm={"dx_self_harm_12m": 1},
        two_bh_groups={"bh_condition_groups_12m": 2},
        one_bh_group={"bh_condition_groups_12m": 1},
        complex_high_use={"pmca_class": 2, "ed_visits_12m": 3},
        complex_social={"pmca_class": 2, "sdoh_domains_12m": 2},
        complex_quiet={"pmca_class": 2, "ed_visits_12m": 1},
        noncomplex_high_use={"pmca_class": 1, "ed_visits_12m": 5},
        both={"pmca_class": 2, "ip_admits_12m": 1, "dx_self_harm_12m": 1},
        nothing={},
    )
    m = load_programs().match(frame)
    got = m["program_match"].to_dict()
    assert got == {
        "suicidal": "Stronger Together", "self_harm": "Stronger Together", "two_bh_groups": "Stronger Together",
        "one_bh_group": "none", "complex_high_use": "CARES", "complex_social": "CARES", "complex_quiet": "none",
        "noncomplex_high_use": "none", "both": "Stronger Together + CARES", "nothing": "none",
    }
    assert m.loc["complex_high_use", "program_reason"] == (
        "CARES: Medical complexity: PMCA class 2 of 2; 3 ED visits in the last 12 months"
    )
    assert m.loc["suicidal", "program_reason"] == "Stronger Together: Suicidal ideation recorded in the last 12 months"
    assert m.loc["both", "program_ids"] == "stronger_together,cares"
    assert m.loc["nothing", "program_reason"] == ""


def test_missing_value_never_matches():
    frame = children(unknown={"pmca_class": np.nan, "ed_visits_12m": 4})
    assert load_programs().match(frame)["program_match"].item() == "none"


def test_reasons_only_for_rows_asked(tmp_path):
    frame = children(a={"dx_self_harm_12m": 1}, b={"dx_self_harm_12m": 1})
    m = load_programs().match(frame, explain=np.array([True, False]))
    assert m["program_match"].tolist() == ["Stronger Together", "Stronger Together"]
    assert m["program_reason"].tolist()[1] == ""


def test_a_plan_can_declare_its_own_rules(tmp_path):
    path = tmp_path / "rules.yaml"
    path.write_text(
        "programs:\n  - id: asthma\n    label: Asthma home visits\n    rule:\n"
        "      all:\n        - {feature: rx_asthma_reliever_12m, op: '>=', value: 3}\n"
        "        - {feature: ed_visits_12m, op: '>', value: 0}\n", encoding="utf-8")
    frame = children(yes={"rx_asthma_reliever_12m": 4, "ed_visits_12m": 1}, no={"rx_asthma_reliever_12m": 4})
    assert load_programs(path).match(frame)["program_match"].tolist() == ["Asthma home visits", "none"]


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ("{feature: ed_visitz_12m, op: '>=', value: 1}", "ed_visitz_12m.*not a declared feature"),
        ("{feature: ed_visits_12m, op: '=>', value: 1}", "op '=>'"),
        ("{feature: ed_visits_12m, op: '>=', value: many}", "must be a number"),
        ("{some: []}", "exactly one key"),
    ],
)
def test_bad_rules_are_refused_naming_file_and_rule(tmp_path, rule, message):
    path = tmp_path / "bad.yaml"
    path.write_text(f"programs:\n  - id: x\n    rule: {rule}\n", encoding="utf-8")
    with pytest.raises(ProgramRulesError, match=message) as info:
        load_programs(path)
    assert "bad.yaml" in str(info.value)
