"""A planted programme (``--plant-effect``): it enrols children at high risk, just after a crisis, and
truth/programme_effects.json records the effect an evaluation must find."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from riskstrat.cli import app
from riskstrat.synth import PlanSpec


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    w = tmp_path_factory.mktemp("planted")
    result = CliRunner().invoke(app, ["synth", "--workspace", str(w), "--members", "4000", "--months", "15",
                                      "--end", "2025-06", "--seed", "3", "--plant-effect", "stronger_together=0.4",
                                      "--plant-effect", "cares=0"])
    assert result.exit_code == 0, result.output
    return w


def _first_enrolments(w) -> pd.DataFrame:
    last = sorted((w / "landing").iterdir())[-1]
    cm = pd.read_csv(next(last.glob("care_management.*")), dtype=str, sep=None, engine="python")
    enrolled = cm[cm["status"] == "enrolled"]
    first = enrolled.groupby(["program", "person_id"], as_index=False)["status_date"].min()
    first["month"] = first["status_date"].str.slice(0, 7)
    return first


def test_truth_records_the_planted_effects(planted):
    doc = json.loads((planted / "truth" / "programme_effects.json").read_text(encoding="utf-8"))
    st, cares = doc["programmes"]["stronger_together"], doc["programmes"]["cares"]
    assert st["reduction"] == 0.4 and cares["reduction"] == 0.0
    assert st["children_with_the_effect"] == st["children_enrolled"] > 20
    assert cares["children_with_the_effect"] == 0 and cares["children_enrolled"] > 20
    assert doc["from"].startswith("the month after") and set(doc["hazards"]) == {"ip_medical", "ip_psych", "ed_bh",
                                                                                  "ed_other"}
    delivered = _first_enrolments(planted)
    assert (delivered["program"] == "stronger_together").sum() >= st["children_enrolled"] * 0.8


def test_children_enrol_at_high_true_risk(planted):
    risk = pd.read_parquet(planted / "truth" / "risk.parquet", columns=["person_id", "month", "p_bh_crisis",
                                                                          "p_cares_acute"])
    first = _first_enrolments(planted)
    for program, column in (("stronger_together", "p_bh_crisis"), ("cares", "p_cares_acute")):
        mine = first[first["program"] == program].merge(risk, on=["person_id", "month"])
        assert len(mine) > 20
        assert mine[column].mean() > 1.5 * risk[column].mean(), program


def test_without_a_planted_effect_there_is_no_record_and_bad_values_are_refused(tmp_path):
    result = CliRunner().invoke(app, ["synth", "--workspace", str(tmp_path / "w"), "--members", "300", "--months", "3"])
    assert result.exit_code == 0
    assert not (tmp_path / "w" / "truth" / "programme_effects.json").exists()
    for bad in ("tutoring=0.4", "cares=1.2", "cares"):
        refused = CliRunner().invoke(app, ["synth", "--workspace", str(tmp_path / bad), "--members", "300",
                                           "--months", "3", "--plant-effect", bad])
        assert refused.exit_code == 1, bad
        assert not (tmp_path / bad / "landing").exists(), bad
    with pytest.raises(ValueError, match="not a care programme"):
        PlanSpec(programme_effects={"tutoring": 0.4})
