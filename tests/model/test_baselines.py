"""The logistic baseline: gaps imputed by the median where a feature can have them, the same fit either way."""

from __future__ import annotations

import numpy as np
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from synthetic_frame import DECLARATIONS, make_frame

from riskstrat.config import Settings
from riskstrat.model.baselines import LABEL, fit_logistic
from riskstrat.model.matrix import feature_matrix, model_features


def _every_column_imputed(train, specs):
    names = [s.name for s in specs]
    prep = ColumnTransformer([("num", make_pipeline(SimpleImputer(strategy="median", keep_empty_features=True),
                                                    StandardScaler()), names)])
    return Pipeline([("prep", prep), ("lr", LogisticRegression(max_iter=2000))]).fit(
        feature_matrix(train, specs), train[LABEL].to_numpy(int))


def test_the_logistic_baseline_imputes_gaps_and_scores_as_a_median_imputer_on_every_column():
    frame, _ = make_frame(children=800, months=6, seed=3)
    rng = np.random.default_rng(0)
    # age_years may be missing (no default); ed_visits_12m is declared never to be, yet has gaps here
    frame["age_years"] = frame["age_years"].astype(float).mask(rng.random(len(frame)) < 0.2)
    frame["ed_visits_12m"] = frame["ed_visits_12m"].astype(float).mask(rng.random(len(frame)) < 0.05)
    specs = model_features(DECLARATIONS)
    settings = Settings().model
    fitted = fit_logistic(frame, specs, settings)
    imputed = fitted.named_steps["prep"].transformers_[0][2]
    assert {"age_years", "ed_visits_12m"} <= set(imputed) and "ip_admits_12m" not in imputed

    test = frame.sample(500, random_state=1)
    got = fitted.predict_proba(feature_matrix(test, specs))[:, 1]
    expected = _every_column_imputed(frame, specs).predict_proba(feature_matrix(test, specs))[:, 1]
    assert not np.isnan(got).any()
    np.testing.assert_allclose(got, expected, rtol=1e-4)
