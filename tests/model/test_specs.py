"""Model specifications: one file per list, checked against the declarations, refused by file and field."""

from __future__ import annotations

import shutil

import pytest

from riskstrat.config import ModelSettings, ScoringSettings, Settings, SettingsError, specs_folder
from riskstrat.model.specs import load_specs, model_fields, spec_changes


def test_the_shipped_lists():
    specs = {s.name: s for s in load_specs(None, Settings())}
    assert set(specs) == {"acute_event", "cares", "stronger_together"}
    assert specs["acute_event"].population is None
    assert specs["stronger_together"].spec.outcome == "bh_crisis"
    assert specs["cares"].spec.outcome == "cares_acute"
    assert "dx_suicidal_ideation_12m" in specs["stronger_together"].population.features()


def test_each_list_gets_its_own_settings_unless_the_workspace_set_one():
    specs = {s.name: s for s in load_specs(None, Settings())}
    plain = Settings()
    st = plain.for_spec(specs["stronger_together"].spec)
    assert st.model.outcome == "bh_crisis" and st.scoring.capacity == 100
    # for_spec on a spec's settings again still follows the new spec, not the first one
    assert st.for_spec(specs["acute_event"].spec).model.outcome == "acute_event"
    given = Settings(model=ModelSettings(max_trees=40), scoring=ScoringSettings(capacity=7))
    cares = given.for_spec(specs["cares"].spec)
    assert cares.model.max_trees == 40 and cares.scoring.capacity == 7 and cares.model.outcome == "cares_acute"


@pytest.fixture()
def own_folder(tmp_path):
    folder = tmp_path / "lists"
    shutil.copytree(specs_folder(None), folder, ignore=shutil.ignore_patterns("__init__.py", "__pycache__"))
    return folder


def _edit(folder, name, old, new):
    path = folder / f"{name}.yaml"
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new), encoding="utf-8")


@pytest.mark.parametrize(
    ("name", "old", "new", "message"),
    [
        ("cares", "outcome: cares_acute", "outcome: cares_cost", r"cares\.yaml: outcome: 'cares_cost' is not a declared outcome"),
        ("cares", "capacity: 100", "capacity: 0", r"cares\.yaml: capacity: Input should be greater than or equal to 1"),
        ("cares", "capacity: 100", "capacity: lots", r"cares\.yaml: capacity: Input should be a valid integer"),
        ("stronger_together", "dx_self_harm_12m", "dx_self_harm_2m",
         r"stronger_together\.yaml: population\.rule\.any\[1\]: feature 'dx_self_harm_2m' is not a declared feature"),
        ("stronger_together", 'op: ">=", value: 1}\n      - {feature: dx_self_harm', 'op: "=>", value: 1}\n      - {feature: dx_self_harm',
         r"stronger_together\.yaml: population\.rule\.any\[0\]: op '=>'"),
        ("acute_event", "features: all", "features: [ed_visits_12m, ed_vists_6m]", r"acute_event\.yaml: features: ed_vists_6m not declared"),
        ("acute_event", "horizon_months: 6", "horizon_months: 60", r"acute_event\.yaml: horizon_months: Input should be less than or equal to 12"),
        ("acute_event", "name: acute_event", "name: acute", r"acute_event\.yaml: name: 'acute' differs from the file name"),
        ("cares", "title: CARES", "titel: CARES", r"cares\.yaml: titel: Extra inputs are not permitted"),
        ("cares", "num_leaves: 7", "num_leafs: 7", r"cares\.yaml: hyperparameters\.num_leafs: Extra inputs are not permitted"),
        ("cares", "  rule:\n    all:", "  rul:\n    all:", r"cares\.yaml: population\.rul: Extra inputs are not permitted"),
        ("cares", "capacity: 100", "capacity: [100", r"cares\.yaml: not valid YAML at line \d+ \("),
    ],
)
def test_a_bad_file_is_refused_naming_the_file_and_the_field(own_folder, name, old, new, message):
    _edit(own_folder, name, old, new)
    settings = Settings(model=ModelSettings(specs_dir=str(own_folder)))
    with pytest.raises(SettingsError, match=message):
        load_specs(None, settings)


def test_a_plan_adds_and_drops_lists_by_editing_its_folder(own_folder):
    (own_folder / "acute_event.yaml").unlink()
    _edit(own_folder, "cares", "name: cares", "name: asthma")
    (own_folder / "cares.yaml").rename(own_folder / "asthma.yaml")
    settings = Settings(model=ModelSettings(specs_dir="lists"))
    assert [s.name for s in load_specs(own_folder.parent, settings)] == ["asthma", "stronger_together"]
    with pytest.raises(SettingsError, match="no model specification named cares"):
        load_specs(own_folder.parent, settings, ["cares"])


def test_what_changed_in_a_file_since_a_model_learned_from_it(own_folder):
    settings = Settings(model=ModelSettings(specs_dir=str(own_folder)))
    before = {s.name: model_fields(s.spec, settings) for s in load_specs(None, settings)}
    _edit(own_folder, "cares", "outcome: cares_acute", "outcome: ip_admit")
    _edit(own_folder, "cares", "num_leaves: 7", "num_leaves: 15")
    _edit(own_folder, "cares", "  label: CARES", "  label: CARES (medical complexity)")  # names the list only
    _edit(own_folder, "stronger_together", "capacity: 100", "capacity: 20")  # cuts the list; same model
    after = {s.name: s.spec for s in load_specs(None, settings)}
    assert spec_changes(before["cares"], after["cares"], settings) == ["outcome", "hyperparameters.num_leaves"]
    assert spec_changes(before["stronger_together"], after["stronger_together"], settings) == []
    assert spec_changes(None, after["cares"], settings) == []  # a model registered before the record: nothing known
    overridden = Settings(model=ModelSettings(specs_dir=str(own_folder), num_leaves=31))  # riskstrat.toml wins
    assert model_fields(after["cares"], overridden)["hyperparameters"]["num_leaves"] == 31
    assert spec_changes(model_fields(after["cares"], settings), after["cares"], overridden) == ["hyperparameters.num_leaves"]


def test_an_edited_file_makes_its_list_due_for_retraining(own_folder, model_workspace, tmp_path):
    from scorekit import AS_OF

    from riskstrat.jobs import retrain_due

    workspace = shutil.copytree(model_workspace, tmp_path / "ws")
    settings = Settings(model=ModelSettings(specs_dir=str(own_folder)))
    assert not retrain_due(workspace, AS_OF, settings, spec="cares").due  # a champion of this month
    _edit(own_folder, "cares", "capacity: 100", "capacity: 20")
    assert not retrain_due(workspace, AS_OF, settings, spec="cares").due
    _edit(own_folder, "cares", "outcome: cares_acute", "outcome: ip_admit")
    decision = retrain_due(workspace, AS_OF, settings, spec="cares")
    assert decision.due and decision.reason.endswith("learned: cares.yaml: outcome")
    assert not retrain_due(workspace, AS_OF, settings, spec="stronger_together").due
