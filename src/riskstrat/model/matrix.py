"""What a model reads: its features, as the registry stores them, and the matrix built from a frame.

A :class:`ModelFeature` is a feature declaration (:mod:`riskstrat.features.declarations`) as the
model saw it: name, description, window and monotone direction, stored in the model's
``features.json``. :func:`feature_matrix` feeds training, calibration, scoring and SHAP alike,
so what is explained is exactly what was scored.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from riskstrat.core.errors import RiskstratError
from riskstrat.features import Feature


class TrainError(RiskstratError):
    """Training cannot go ahead; the message says what is missing or wrong and where."""


@dataclass(frozen=True)
class ModelFeature:
    """One input of a model, as its ``features.json`` records it.

    ``direction`` is the monotone constraint: +1 risk never falls as the value rises, -1 never
    rises, 0 none. Every declared feature is a number; ``kind`` and ``categories`` are kept
    because they are part of the stored format (and so of every registered model's id).
    """

    name: str
    description: str = ""
    window: str = ""
    direction: int = 0
    kind: str = "numeric"
    categories: tuple[str, ...] | None = None

    @classmethod
    def from_declaration(cls, feature: Feature) -> "ModelFeature":
        """The model's record of a declared feature."""
        window = "" if feature.window_months is None else str(feature.window_months)
        return cls(name=feature.name, description=feature.description, window=window, direction=feature.monotone)

    def to_dict(self) -> dict:
        """JSON-ready form (an entry of ``features.json``)."""
        out = dataclasses.asdict(self)
        out["categories"] = list(self.categories) if self.categories is not None else None
        return out

    @classmethod
    def from_dict(cls, data: dict) -> "ModelFeature":
        """Inverse of :meth:`to_dict`; refuses a feature kind this version cannot feed a model."""
        if data.get("kind", "numeric") != "numeric":
            raise TrainError(f"features.json: feature {data.get('name')!r} has kind {data.get('kind')!r}; only numeric is known")
        return cls(**{**data, "categories": None})


def model_features(declarations: Iterable[Feature]) -> list[ModelFeature]:
    """The model's features, in declaration order; refuses none or a name declared twice."""
    specs = [ModelFeature.from_declaration(f) for f in declarations]
    names = [s.name for s in specs]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise TrainError(f"feature declarations: {', '.join(twice)} declared more than once")
    if not specs:
        raise TrainError("feature declarations: none given")
    return specs


def _column(frame: pd.DataFrame, name: str) -> np.ndarray:
    try:
        return pd.to_numeric(frame[name], errors="raise").to_numpy(dtype=np.float32, na_value=np.nan)
    except (TypeError, ValueError):
        raise TrainError(f"feature frame: column {name} is declared numeric but holds non-numbers") from None


def check_columns(frame: pd.DataFrame, specs: list[ModelFeature]) -> None:
    """Refuse a frame that lacks a model feature, naming it."""
    missing = [s.name for s in specs if s.name not in frame.columns]
    if missing:
        raise TrainError(f"feature frame: missing declared feature column(s) {', '.join(missing)}")


def feature_matrix(frame: pd.DataFrame, specs: list[ModelFeature]) -> pd.DataFrame:
    """The model's input: its features in its order, as float32, on the frame's index."""
    check_columns(frame, specs)
    return pd.DataFrame({s.name: _column(frame, s.name) for s in specs}, index=frame.index)


def training_array(frame: pd.DataFrame, specs: list[ModelFeature]) -> np.ndarray:
    """The training matrix as one C-ordered float32 array.

    pandas hands LightGBM a column-major block that it copies again; filling one row-major array
    column by column keeps a single copy of the largest thing in memory.
    """
    check_columns(frame, specs)
    out = np.empty((len(frame), len(specs)), dtype=np.float32, order="C")
    for j, s in enumerate(specs):
        out[:, j] = _column(frame, s.name)
    return out
