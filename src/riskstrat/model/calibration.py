"""Probability calibration: Platt scaling of the booster's log-odds, fitted on months the model never saw."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from sklearn.linear_model import LogisticRegression

from riskstrat.model.matrix import TrainError


@dataclass
class PlattCalibrator:
    """Probability = sigmoid(slope x raw log-odds + intercept), fitted on months the model never saw.

    Platt, not isotonic, because: it keeps every child's order (isotonic's flat steps would tie
    hundreds of children at the worklist cut and make the SHAP reasons explain a score the
    ranking no longer uses); its two parameters are stable with the few hundred events a small
    plan has in two calibration months; and a LightGBM log-loss model is usually off by a shift
    and scale in log-odds, which is what Platt corrects. Test-month ECE shows if that ever fails.
    """

    slope_: float | None = None
    intercept_: float | None = None
    n_: int = 0
    events_: int = 0

    def fit(self, raw: np.ndarray, y: np.ndarray) -> "PlattCalibrator":
        raw = np.asarray(raw, dtype=float).reshape(-1, 1)
        y = np.asarray(y, dtype=int)
        if y.min() == y.max():
            raise TrainError("calibration months: need both events and non-events to calibrate")
        lr = LogisticRegression(C=np.inf, solver="lbfgs", max_iter=1000).fit(raw, y)
        self.slope_, self.intercept_ = float(lr.coef_[0, 0]), float(lr.intercept_[0])
        self.n_, self.events_ = int(len(y)), int(y.sum())
        return self

    def predict(self, raw) -> np.ndarray:
        if self.slope_ is None:
            raise TrainError("calibrator is not fitted")
        z = self.slope_ * np.asarray(raw, dtype=float) + self.intercept_
        return 1.0 / (1.0 + np.exp(-z))

    def to_dict(self) -> dict:
        return {"method": "platt", "input": "lightgbm raw score (log-odds)", "slope": self.slope_,
                "intercept": self.intercept_, "n": self.n_, "events": self.events_}

    @classmethod
    def from_dict(cls, data: dict) -> "PlattCalibrator":
        if data.get("method") != "platt":
            raise TrainError(f"calibrator: method {data.get('method')!r} is not 'platt'")
        slope, intercept = float(data["slope"]), float(data["intercept"])
        if not (math.isfinite(slope) and math.isfinite(intercept)):
            raise TrainError("calibrator: slope and intercept must be finite numbers")
        return cls(slope_=slope, intercept_=intercept, n_=int(data.get("n", 0)), events_=int(data.get("events", 0)))
