import numpy as np
import pytest
from synthetic_frame import DECLARATIONS

from riskstrat.audit import performance as ev
from riskstrat.features.rules import parse_rule
from riskstrat.model.calibration import PlattCalibrator
from riskstrat.model.matrix import TrainError
from riskstrat.model.train import fit_and_register


def test_platt_recovers_known_probabilities_in_bins():
    rng = np.random.default_rng(7)
    logit = rng.normal(-3, 1.2, 60_000)
    p = 1 / (1 + np.exp(-logit))
    y = (rng.random(len(p)) < p).astype(int)
    raw = 0.5 * logit + 1.0  # an over-confident-shifted score, as an uncalibrated model gives
    cal = PlattCalibrator().fit(raw[:30_000], y[:30_000])
    assert cal.slope_ == pytest.approx(2.0, rel=0.08) and cal.intercept_ == pytest.approx(-2.0, abs=0.2)
    prob = cal.predict(raw[30_000:])
    table = ev.calibration_table(p[30_000:], prob, bins=10)
    assert np.allclose(table["mean_predicted"], table["observed_rate"], atol=0.01)


def test_calibrator_round_trips_through_json_and_refuses_junk():
    cal = PlattCalibrator(slope_=1.1, intercept_=-0.3, n_=10, events_=2)
    again = PlattCalibrator.from_dict(cal.to_dict())
    assert np.allclose(again.predict([0.0, 1.0]), cal.predict([0.0, 1.0]))
    with pytest.raises(TrainError, match="method"):
        PlattCalibrator.from_dict({"method": "isotonic"})
    with pytest.raises(TrainError, match="finite"):
        PlattCalibrator.from_dict({"method": "platt", "slope": float("nan"), "intercept": 0})


def test_trained_model_is_calibrated_on_test_months(trained):
    workspace, result = trained
    model = result.metrics["model"]
    # A score of 0.2 means about 1 in 5: mean prediction near the event rate, small ECE per bin.
    assert model["mean_predicted"] == pytest.approx(model["prevalence"], abs=0.015)
    assert model["ece"] < 0.02
    # Against the known true probabilities the calibration is tighter than chance noise allows.
    assert model["expected"]["brier"] <= result.metrics["rules"]["expected"]["brier"]


def test_calibration_is_fitted_out_of_sample(trained):
    _, result = trained
    d = result.design
    cal = result.metrics["cross_fit"]
    # The registered model's calibrator is fitted on the out-of-fold scores of every month.
    att = result.attrition.set_index("step")
    model_json = (result.model_dir / "calibrator.json").read_text()
    assert f'"n": {att.loc["registered model: learned from", "rows"]}' in model_json
    assert cal["test_rows_judged"] == result.metrics["model"]["n"] and len(d.test_months) == 2


def test_a_programme_model_is_calibrated_on_the_children_its_list_ranks(tmp_path, plan, settings, design):
    frame, truth = plan
    rule = parse_rule({"feature": "chronic_conditions", "op": ">=", "value": 2}, "test population")
    result = fit_and_register(tmp_path, frame, DECLARATIONS, design, settings, truth=truth, population=rule)
    fit_rows = frame[frame["as_of"].isin(design.fit_months) & frame["label"].notna()]
    admitted = fit_rows[rule.test(fit_rows)]
    calibrated_on = result.metrics["cross_fit"]["calibrated_on"]
    assert calibrated_on.startswith(f"the {len(admitted):,} child-months of children the")
    assert f"{int(admitted['label'].sum()):,} events" in calibrated_on
    assert f'"n": {len(admitted)}' in (result.model_dir / "calibrator.json").read_text()
    model = result.metrics["model"]  # judged among the admitted children, on test months no calibrator saw
    assert model["n"] < len(frame[frame["as_of"].isin(design.test_months)])
    assert model["mean_predicted"] == pytest.approx(model["prevalence"], abs=0.02)
