"""Model behaviour: what a clinician would expect of any risk score, checked on a real model."""

import numpy as np

from riskstrat.model import registry


def _test_rows(plan, design, n=400):
    frame, _ = plan
    return frame[frame["as_of"].isin(design.test_months)].head(n).reset_index(drop=True)


def test_more_ed_visits_never_lower_risk(trained, plan, design):
    workspace, _ = trained
    model = registry.load_model(workspace)
    rows = _test_rows(plan, design)
    previous = model.predict_proba(rows)
    for extra in range(1, 8):
        now = model.predict_proba(rows.assign(ed_visits_12m=rows["ed_visits_12m"] + extra))
        assert np.all(now >= previous - 1e-12)
        previous = now
    assert np.any(previous > model.predict_proba(rows))  # and it does matter


def test_inputs_that_are_not_features_do_not_move_the_score(trained, plan, design):
    workspace, _ = trained
    model = registry.load_model(workspace)
    rows = _test_rows(plan, design)
    base = model.predict_proba(rows)
    changed = rows.assign(person_id="someone else", as_of="2020-01", label=1 - rows["label"], zip_code="99999")
    assert np.array_equal(model.predict_proba(changed), base)
    assert np.array_equal(model.predict_proba(rows[list(reversed(rows.columns))]), base)


def test_the_strongest_signals_drive_the_model(trained):
    workspace, _ = trained
    model = registry.load_model(workspace)
    gain = dict(zip(model.feature_names, model.booster.feature_importance("gain")))
    assert gain["ed_visits_12m"] > gain["noise_score"]
    assert gain["ip_admits_12m"] > gain["noise_score"]


def test_model_beats_both_baselines_and_tracks_the_oracle(trained):
    _, result = trained
    m = result.metrics
    assert m["model"]["expected"]["auprc"] > m["rules"]["expected"]["auprc"]
    assert m["model"]["expected"]["auroc"] > m["rules"]["expected"]["auroc"]
    assert m["ratio_to_oracle"]["expected_auroc"] > 0.9
