"""Why a child scored high: exact SHAP values from the model that scored, and reasons in plain language.

SHAP values come from LightGBM's own TreeSHAP (``booster.predict(X, pred_contrib=True)``) on the
same matrix the model scored (``model.matrix``), so the reasons explain exactly the score used for
the ranking: per child, the base value plus the SHAP values equals the booster's raw log-odds.
Calibration is monotone, so what raises the log-odds raises the probability.

A *reason* is a feature that raises this child's risk (SHAP > 0) and describes something present
in the child's record; it is worded by :func:`riskstrat.features.reasons.reason_text` with the child's own
value ("3 ED visits in the last 6 months"). A feature whose value is zero or missing (no visits,
flag not set) is never a reason, even when its absence nudges the score up: an outreach worker
cannot act on "no self-harm recorded". A trend is a reason only when it rises: its sentence says
"rising", and a fall that the model reads as risk would be worded as the opposite of the record.
Demographic features (:data:`NOT_REASONS`) are not worded as reasons either; their SHAP values are
still published.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from riskstrat.features import Feature, get_feature, reason_text

# Kinds whose zero means "nothing recorded" (see Feature.kind in riskstrat.features.declarations).
_ABSENT_WHEN_ZERO = ("count", "flag", "amount", "rate", "ordinal")
# Aggregates whose reason describes a rise (the last 3 months against the 9 before).
_RISES = ("trend", "pmpm_trend")
#: Feature families never worded as a reason: "Age 2" or "Female" tells an outreach worker
#: nothing to act on. Their SHAP values stay in explanations.parquet for audit.
NOT_REASONS = ("demographics",)


def model_feature_names(model) -> list[str]:
    """The model's features in booster order (RegisteredModel.feature_names, or names of .features)."""
    names = getattr(model, "feature_names", None)
    if names is None:
        names = [getattr(f, "name", f) for f in model.features]
    return list(names)


def model_matrix(model, frame: pd.DataFrame) -> pd.DataFrame:
    """The booster's input for ``frame``: the registry's own typing when the model has it."""
    if hasattr(model, "matrix"):
        return model.matrix(frame)
    return frame[model_feature_names(model)].astype("float32")


def shap_contributions(model, X: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Exact TreeSHAP for the rows of ``X`` (a :func:`model_matrix`): (values n x features, base value n)."""
    if len(X) == 0:
        return np.zeros((0, X.shape[1])), np.zeros(0)
    contrib = np.asarray(model.booster.predict(X, pred_contrib=True), dtype=float)
    if contrib.shape[1] != X.shape[1] + 1:
        raise ValueError(
            f"pred_contrib gave {contrib.shape[1]} columns for {X.shape[1]} features; "
            "a multi-class model cannot be explained here"
        )
    return contrib[:, :-1], contrib[:, -1]


def numeric_values(X: pd.DataFrame) -> np.ndarray:
    """Feature values as float (categories as their codes), for explanations.parquet and reasons."""
    cols = []
    for name in X.columns:
        col = X[name]
        if isinstance(col.dtype, pd.CategoricalDtype):
            codes = col.cat.codes.to_numpy().astype(float)
            codes[codes < 0] = np.nan
            cols.append(codes)
        else:
            cols.append(pd.to_numeric(col, errors="coerce").to_numpy(dtype=float))
    return np.column_stack(cols) if cols else np.zeros((len(X), 0))


def explanations_frame(person_ids, X: pd.DataFrame, values: np.ndarray, base: np.ndarray) -> pd.DataFrame:
    """Long form, one row per child and feature: person_id, feature, feature_value, shap_value, base_value.

    Rows keep the children's order and, within a child, the model's feature order.
    """
    person_ids = np.asarray(person_ids, dtype=object)
    n, k = values.shape
    feats = np.asarray(list(X.columns), dtype=object)
    return pd.DataFrame({
        "person_id": pd.array(np.repeat(person_ids, k), dtype="string"),
        "feature": pd.array(np.tile(feats, n), dtype="string"),
        "feature_value": numeric_values(X).reshape(-1),
        "shap_value": values.reshape(-1),
        "base_value": np.repeat(base, k),
    })


def _present(feature: Feature, value: float) -> bool:
    """Whether the child's record holds what the feature's reason says: something, or a rise."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return False
    if feature.aggregate in _RISES:
        return value > 0
    return not (feature.kind in _ABSENT_WHEN_ZERO and value == 0)


def top_reasons(X: pd.DataFrame, values: np.ndarray, n: int = 3) -> list[list[tuple[str, str]]]:
    """Per row: up to ``n`` (feature, reason text) that raise risk, largest SHAP first.

    Only declared features can be worded; an undeclared one is skipped rather than given a
    made-up sentence, and so are the :data:`NOT_REASONS` families.
    """
    names = list(X.columns)
    worded = {}
    for name in names:
        try:
            feature = get_feature(name)
        except KeyError:
            worded[name] = None
            continue
        worded[name] = None if feature.family in NOT_REASONS else feature
    raw = numeric_values(X)
    out: list[list[tuple[str, str]]] = []
    for i in range(values.shape[0]):
        # Stable sort on -SHAP keeps the model's feature order among ties, so reruns agree.
        order = np.argsort(-values[i], kind="stable")
        picked: list[tuple[str, str]] = []
        for j in order:
            if values[i, j] <= 0 or len(picked) == n:
                break
            name, value = names[j], raw[i, j]
            if worded[name] is None or not _present(worded[name], value):
                continue
            picked.append((name, reason_text(name, value)))
        out.append(picked)
    return out


def sample_rows(n_rows: int, size: int, seed: int = 0) -> np.ndarray:
    """A fixed sample of row positions (sorted), all rows when there are no more than ``size``."""
    if n_rows <= size:
        return np.arange(n_rows)
    return np.sort(np.random.default_rng(seed).choice(n_rows, size=size, replace=False))


def global_summary(model, X: pd.DataFrame, rows: int, seed: int = 0) -> pd.DataFrame:
    """Mean |SHAP| and mean SHAP per feature on a fixed sample of ``X``, largest mean |SHAP| first."""
    idx = sample_rows(len(X), rows, seed)
    values, _ = shap_contributions(model, X.iloc[idx])
    summary = pd.DataFrame({
        "feature": list(X.columns),
        "mean_abs_shap": np.abs(values).mean(axis=0) if len(idx) else 0.0,
        "mean_shap": values.mean(axis=0) if len(idx) else 0.0,
    })
    summary["rows"] = len(idx)
    return summary.sort_values(["mean_abs_shap", "feature"], ascending=[False, True], kind="stable").reset_index(drop=True)
