"""What a training run hands the registry and the model card: the fitted model and every fact about it."""

from __future__ import annotations

from dataclasses import dataclass

import lightgbm as lgb
import pandas as pd

from riskstrat.model.calibration import PlattCalibrator
from riskstrat.model.design import StudyDesign
from riskstrat.model.matrix import ModelFeature


@dataclass
class ModelBundle:
    """Everything a training run hands the registry."""

    booster: lgb.Booster
    calibrator: PlattCalibrator
    features: list[ModelFeature]
    declarations_hash: str
    catalogue_hash: str | None
    design: StudyDesign
    attrition: pd.DataFrame
    metrics: dict
    data_hashes: dict
    code: dict
    params: dict
    settings: dict
    synthetic: bool
    # What the audit needs later (riskstrat.audit.training); not identity: they never change a prediction.
    fairness: dict | None = None
    drift_reference: dict | None = None
    # person_id, as_of, score: each test row's out-of-fold score, so the audit and a programme's
    # model can judge on the very scores the metrics came from.
    test_scores: pd.DataFrame | None = None
    # What the specification file decided about this model (riskstrat.model.specs.model_fields), so a
    # later edit of the file is seen: the list's next run retrains instead of scoring with a model of
    # another outcome or population.
    specification: dict | None = None

    @property
    def trees(self) -> int:
        """Trees in the booster (cut at the best tuning iteration)."""
        return self.booster.current_iteration()
