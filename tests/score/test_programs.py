"""Program match from the programme specifications' population rules, on hand-built children, and
specification files whose rule must be refused."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scorekit import copy_specs

from riskstrat.config import ModelSettings, Settings, SettingsError
from riskstrat.features import feature_names
from riskstrat.model.specs import load_specs
from riskstrat.scoring.programs import programme_rules


def children(**overrides) -> pd.DataFrame:
    """One row per keyword: {name: {feature: value}}; every other declared feature 0."""
    rows = []
    for name, values in overrides.items():
        row = {f: 0.0 for f in feature_names()}
        row.update(values)
        row["person_id"] = name
        rows.append(row)
    return pd.DataFrame(rows).set_index("person_id")


def shipped():
    return programme_rules(load_specs(None, Settings()))


def test_the_programmes_are_the_specifications_with_a_population_rule_in_file_order():
    rules = shipped()
    assert [p.id for p in rules.programs] == ["cares", "stronger_together"]  # acute_event ranks every child
    assert [p.label for p in rules.programs] == ["CARES", "Stronger Together"]


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
    m = shipped().match(frame)
    assert m["program_match"].to_dict() == {
        "suicidal": "Stronger Together", "self_harm": "Stronger Together", "two_bh_groups": "Stronger Together",
        "one_bh_group": "none", "complex_high_use": "CARES", "complex_social": "CARES", "complex_quiet": "none",
        "noncomplex_high_use": "none", "both": "CARES + Stronger Together", "nothing": "none",
    }
    assert m.loc["complex_high_use", "program_reason"] == (
        "CARES: Medical complexity: complex chronic disease; 3 ED visits in the last 12 months"
    )
    assert m.loc["suicidal", "program_reason"] == "Stronger Together: Suicidal ideation recorded in the last 12 months"
    assert m.loc["both", "program_ids"] == "cares,stronger_together"
    assert m.loc["both", "program_reason"].startswith("CARES: ") and " | Stronger Together: " in m.loc["both", "program_reason"]
    assert m.loc["nothing", "program_reason"] == ""


def test_the_rule_that_matches_is_the_rule_that_admits_to_the_list():
    frame = children(a={"dx_self_harm_12m": 1}, b={"pmca_class": 2, "foster_care": 1}, c={})
    specs = {s.name: s for s in load_specs(None, Settings())}
    matched = shipped().match(frame)["program_ids"]
    for name in ("cares", "stronger_together"):
        admitted = specs[name].population.test(frame)
        assert admitted.tolist() == matched.str.split(",").map(lambda ids, n=name: n in ids).tolist()


def test_missing_value_never_matches():
    frame = children(unknown={"pmca_class": np.nan, "ed_visits_12m": 4})
    assert shipped().match(frame)["program_match"].item() == "none"


def test_reasons_only_for_rows_asked():
    frame = children(a={"dx_self_harm_12m": 1}, b={"dx_self_harm_12m": 1})
    m = shipped().match(frame, explain=np.array([True, False]))
    assert m["program_match"].tolist() == ["Stronger Together", "Stronger Together"]
    assert m["program_reason"].tolist()[1] == ""


def test_a_plan_can_declare_its_own_programme(tmp_path):
    folder = copy_specs(tmp_path / "specs")
    text = (folder / "cares.yaml").read_text(encoding="utf-8")
    text = text.replace("name: cares", "name: asthma").replace("title: CARES", "title: Asthma home visits")
    rule = text[text.index("  rule:"):text.index("# An inpatient admission")]
    text = text.replace(rule, "  rule:\n    all:\n      - {feature: rx_asthma_reliever_12m, op: '>=', value: 3}\n"
                              "      - {feature: ed_visits_12m, op: '>', value: 0}\n")
    (folder / "asthma.yaml").write_text(text.replace("label: CARES", "label: Asthma home visits"), encoding="utf-8")
    settings = Settings(model=ModelSettings(specs_dir=str(folder)))
    rules = programme_rules(load_specs(None, settings))
    assert [p.id for p in rules.programs] == ["asthma", "cares", "stronger_together"]
    frame = children(yes={"rx_asthma_reliever_12m": 4, "ed_visits_12m": 1}, no={"rx_asthma_reliever_12m": 4})
    assert rules.match(frame)["program_match"].tolist() == ["Asthma home visits", "none"]


@pytest.mark.parametrize(
    ("condition", "message"),
    [
        ("{feature: ed_visitz_12m, op: '>=', value: 1}",
         r"population\.rule\.any\[0\]: feature 'ed_visitz_12m' is not a declared feature"),
        ("{feature: ed_visits_12m, op: '=>', value: 1}", r"population\.rule\.any\[0\]: op '=>' is not one of"),
        ("{feature: ed_visits_12m, op: '>=', value: many}", r"population\.rule\.any\[0\]: value 'many' must be a number"),
    ],
)
def test_a_specification_with_a_bad_population_rule_is_refused_naming_file_and_field(tmp_path, condition, message):
    folder = copy_specs(tmp_path / "specs")
    path = folder / "stronger_together.yaml"
    text = path.read_text(encoding="utf-8")
    first = "      - {feature: dx_suicidal_ideation_12m, op: \">=\", value: 1}"
    assert first in text
    path.write_text(text.replace(first, f"      - {condition}"), encoding="utf-8")
    settings = Settings(model=ModelSettings(specs_dir=str(folder)))
    with pytest.raises(SettingsError, match=message) as info:
        load_specs(None, settings)
    assert str(info.value).startswith(f"{path}: population.rule")
    assert "\n" not in str(info.value)
