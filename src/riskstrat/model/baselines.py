"""The baselines a model must beat, on the same test rows: a plan's hand rule, and logistic regression."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from riskstrat.config import ModelSettings
from riskstrat.features import FEATURES
from riskstrat.model.matrix import ModelFeature, TrainError, feature_matrix

LABEL = "label"


@dataclass
class RulesBaseline:
    """A plan's case-finding by hand: prior ED or inpatient use AND a behavioural-health diagnosis.

    Children meeting the rule rank first, then by total prior use; its probability is the event
    rate of its group (meets / does not) in the calibration months.
    """

    use_features: tuple[str, ...]
    bh_features: tuple[str, ...]
    rate_meets_: float | None = None
    rate_other_: float | None = None

    def _parts(self, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        missing = [f for f in (*self.use_features, *self.bh_features) if f not in frame.columns]
        if missing:
            raise TrainError(
                f"rules baseline: feature(s) {', '.join(missing)} are not declared; set model.rules_use_features "
                f"and model.rules_bh_features in riskstrat.toml to declared feature names"
            )
        use = frame[list(self.use_features)].apply(pd.to_numeric).fillna(0).clip(lower=0).sum(axis=1).to_numpy(float)
        bh = (frame[list(self.bh_features)].apply(pd.to_numeric).fillna(0) > 0).any(axis=1).to_numpy()
        return use, (use > 0) & bh

    def score(self, frame: pd.DataFrame) -> np.ndarray:
        use, meets = self._parts(frame)
        return meets * 1e6 + use

    def fit(self, frame: pd.DataFrame, y) -> "RulesBaseline":
        _, meets = self._parts(frame)
        y = np.asarray(y, dtype=float)
        self.rate_meets_ = float(y[meets].mean()) if meets.any() else float(y.mean())
        self.rate_other_ = float(y[~meets].mean()) if (~meets).any() else float(y.mean())
        return self

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        _, meets = self._parts(frame)
        return np.where(meets, self.rate_meets_, self.rate_other_)


def fit_logistic(train: pd.DataFrame, specs: list[ModelFeature], settings: ModelSettings, label: str = LABEL):
    """Logistic regression on the same features, median-imputed and scaled; fitted on :func:`baseline_sample`.

    Only the features that can be missing (:attr:`~riskstrat.features.Feature.may_be_missing`, or
    holding a gap in these rows) go through the imputer: SimpleImputer finds medians of data with
    NaN through numpy's masked arrays, 2 s a fit for every column of 200k rows, nine fits a training
    run, for columns that never have a gap.
    """
    train = baseline_sample(train, settings)
    declared = {f.name: f for f in FEATURES}
    x = feature_matrix(train, specs)
    gaps = x.isna().any()
    imputed = [s.name for s in specs if s.name not in declared or declared[s.name].may_be_missing or gaps[s.name]]
    complete = [s.name for s in specs if s.name not in imputed]
    numeric = [("imputed", make_pipeline(SimpleImputer(strategy="median", keep_empty_features=True), StandardScaler()),
                imputed), ("complete", StandardScaler(), complete)]
    pipe = Pipeline([("prep", ColumnTransformer(numeric)), ("lr", LogisticRegression(max_iter=2000))])
    pipe.fit(x, train[label].to_numpy(int))
    return pipe


def baseline_sample(train: pd.DataFrame, settings: ModelSettings) -> pd.DataFrame:
    """The fixed random sample of training rows the logistic baseline (and the drift reference) use."""
    return train.iloc[baseline_positions(len(train), settings)]


def baseline_positions(rows: int, settings: ModelSettings) -> np.ndarray:
    """Positions of :func:`baseline_sample`'s rows among ``rows``, so a caller can sample before it copies."""
    if rows > settings.baseline_max_rows:
        return np.random.RandomState(settings.seed).permutation(rows)[: settings.baseline_max_rows]
    return np.arange(rows)
