"""Scoring and SHAP reasons on Apache Spark: the champion's LightGBM model text, broadcast to the executors.

A registered model is a LightGBM model text (``model.txt``), so every executor can rebuild exactly
the booster that scores locally and run its ``predict`` on its share of the rows through
``mapInPandas``. The probabilities and TreeSHAP contributions are then the same numbers as a local
run, to the bit (tests/features/test_spark.py; tests/flows/test_monthly_flow.py compares a month
published on Spark file by file). Everything around the booster (calibration, ranking, flags,
worklist) is the same code as on DuckDB: only the booster is swapped, so the two engines cannot
drift apart.
"""

from __future__ import annotations

import dataclasses

import lightgbm as lgb
import numpy as np
import pandas as pd

from riskstrat.features.spark import SCORING_JOBS, job_group

_ROW = "_riskstrat_row"


class SparkBooster:
    """A stand-in for a ``lightgbm.Booster`` whose :meth:`predict` runs on Spark; anything else is
    asked of the local booster it was made from."""

    def __init__(self, spark, booster: lgb.Booster):
        self._spark = spark
        self._booster = booster
        self._text = spark.sparkContext.broadcast(booster.model_to_string())

    def __getattr__(self, name: str):
        return getattr(self._booster, name)

    def predict(self, X: pd.DataFrame, raw_score: bool = False, pred_contrib: bool = False) -> np.ndarray:
        """``booster.predict(X, raw_score=..., pred_contrib=...)``, computed by the executors."""
        features = list(X.columns)
        if len(X) == 0:
            return np.zeros((0, len(features) + 1)) if pred_contrib else np.zeros(0)
        width = len(features) + 1 if pred_contrib else 1
        outputs = [f"out_{i}" for i in range(width)]
        text = self._text

        def predict_partition(batches):
            booster = lgb.Booster(model_str=text.value)  # once per partition, not per batch
            for batch in batches:
                # float32 again: Arrow hands a Spark FLOAT back to pandas as float32 already, but
                # the booster must see exactly the matrix local scoring gives it
                values = booster.predict(batch[features].astype("float32"), raw_score=raw_score,
                                         pred_contrib=pred_contrib)
                values = np.asarray(values, dtype=float).reshape(len(batch), width)
                out = pd.DataFrame(values, columns=outputs)
                out.insert(0, _ROW, batch[_ROW].to_numpy())
                yield out

        frame = X.reset_index(drop=True).astype("float32")
        frame.insert(0, _ROW, np.arange(len(frame), dtype="int64"))
        schema = ", ".join([f"{_ROW} long", *(f"{c} double" for c in outputs)])
        with job_group(self._spark, SCORING_JOBS):
            done = self._spark.createDataFrame(frame).mapInPandas(predict_partition, schema).toPandas()
        values = done.sort_values(_ROW)[outputs].to_numpy(dtype=float)
        return values if pred_contrib else values[:, 0]


def on_spark(models: dict, spark) -> dict:
    """``models`` (name -> registered model) with each booster's predictions run on ``spark``."""
    return {name: dataclasses.replace(model, booster=SparkBooster(spark, model.booster)) for name, model in models.items()}
