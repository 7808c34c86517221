import json

from synthetic_frame import DECLARATIONS

from riskstrat.model import registry
from riskstrat.model.design import StudyDesign
from riskstrat.model.evaluation import decide_promotion
from riskstrat.model.train import fit_and_register

# A challenger that only sees age and noise is clearly worse than one with the utilisation features;
# its test rows still hold every column, so the champion can be scored on them.
WEAK = [d for d in DECLARATIONS if d.name in {"age_years", "noise_score"}]


def test_the_rule_itself():
    assert decide_promotion(0.30, None, "auprc", 0.01)[0]
    assert decide_promotion(0.295, 0.30, "auprc", 0.01)[0]
    promoted, reason = decide_promotion(0.25, 0.30, "auprc", 0.01)
    assert not promoted and "lower than the champion's" in reason
    assert decide_promotion(0.25, 0.30, "auprc", 0.01, force=True) == (True, "promoted: --promote given")


def test_worse_challenger_is_not_promoted_better_one_is(tmp_path, plan, settings, design):
    frame, truth = plan
    strong = fit_and_register(tmp_path, frame, DECLARATIONS, design, settings, truth=truth)
    assert strong.promoted and registry.champion_id(tmp_path) == strong.model_id

    weak = fit_and_register(tmp_path, frame, WEAK, design, settings, truth=truth)
    assert not weak.promoted
    assert "kept the champion" in weak.decision and "auprc" in weak.decision
    assert registry.champion_id(tmp_path) == strong.model_id
    assert weak.model_dir.exists()  # a challenger is registered even when it loses


def test_better_challenger_replaces_a_weak_champion(tmp_path, plan, settings, design):
    frame, truth = plan
    weak = fit_and_register(tmp_path, frame, WEAK, design, settings, truth=truth)
    strong = fit_and_register(tmp_path, frame, DECLARATIONS, design, settings, truth=truth)
    assert weak.promoted and strong.promoted
    assert registry.champion_id(tmp_path) == strong.model_id
    history = json.loads((tmp_path / "models" / "champion.json").read_text())["acute_event"]["history"]
    assert [h["model_id"] for h in history] == [weak.model_id, strong.model_id]


def test_promote_flag_overrides_the_gate(tmp_path, plan, settings, design):
    frame, truth = plan
    fit_and_register(tmp_path, frame, DECLARATIONS, design, settings, truth=truth)
    weak = fit_and_register(tmp_path, frame, WEAK, design, settings, truth=truth, promote=True)
    assert weak.promoted and weak.decision == "promoted: --promote given"
    assert registry.champion_id(tmp_path) == weak.model_id


def test_champion_that_saw_the_test_months_is_not_compared(tmp_path, plan, settings):
    frame, truth = plan
    later = StudyDesign.from_settings("2025-11", settings.model, first_month="2023-06")
    earlier = StudyDesign.from_settings("2025-08", settings.model, first_month="2023-06")
    fit_and_register(tmp_path, frame, DECLARATIONS, later, settings, truth=truth)
    older = fit_and_register(tmp_path, frame, DECLARATIONS, earlier, settings, truth=truth)
    assert not older.promoted and "cannot be compared fairly" in older.decision


def test_a_retrain_a_month_later_is_compared_on_the_champions_own_out_of_fold_scores(tmp_path, plan, settings):
    frame, truth = plan
    champion = StudyDesign.from_settings("2025-10", settings.model, first_month="2023-06")
    month_later = StudyDesign.from_settings("2025-11", settings.model, first_month="2023-06")
    assert set(champion.fit_months) & set(month_later.test_months)  # it learned from one of them
    fit_and_register(tmp_path, frame, DECLARATIONS, champion, settings, truth=truth)
    weak = fit_and_register(tmp_path, frame, WEAK, month_later, settings, truth=truth)
    assert not weak.promoted and "lower than the champion's" in weak.decision and "same test rows" in weak.decision


def test_a_changed_specification_replaces_the_champion_whatever_the_scores(tmp_path, plan, settings, design):
    frame, truth = plan
    before = {"outcome": "acute_event", "population": "all", "horizon_months": 6, "lookback_months": 12,
              "features": "all", "hyperparameters": {"num_leaves": 7}}
    strong = fit_and_register(tmp_path, frame, DECLARATIONS, design, settings, truth=truth, specification=before)
    after = {**before, "hyperparameters": {"num_leaves": 15}}
    weak = fit_and_register(tmp_path, frame, WEAK, design, settings, truth=truth, specification=after)
    assert weak.promoted and weak.decision == (f"promoted: the specification changed since champion "
                                               f"{strong.model_id} learned (hyperparameters.num_leaves)")
    assert registry.champion_id(tmp_path) == weak.model_id
