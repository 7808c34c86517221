"""Drift: has the population the model scores moved away from the one it learned on?

The population stability index compares the share of children in each bin of a feature (or the
score) between a reference and the current month::

    PSI = Σ_bins (current% − reference%) · ln(current% / reference%)

Identical distributions give 0. It is computed twice each month: against the model's training
data (has the plan drifted since the model learned?) and against last month (did something
change suddenly — a delivery problem, a coding change, a new population?).

Bins come from the reference only, so the current month is judged on the reference's scale:

- numeric columns: the reference's deciles, as right-closed intervals ``(e_i, e_i+1]``. Tied
  quantiles collapse into one edge, so a count that is 0 for 85% of children gets one bin
  ``≤ 0`` holding them all, not nine empty ones; a 0/1 flag gets two bins.
- categorical columns (text, boolean, category): one bin per reference value; values the
  reference never saw share one "unseen" bin.
- missing values are a bin of their own in both cases: a feed that stops arriving shows up as
  drift, not as a smaller denominator.

An empty bin on either side would make the log infinite; every share is floored at
:data:`EPSILON` first. Thresholds are in :data:`PSI_THRESHOLDS`, the one place they are set.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

Bands = tuple[tuple[float, str, bool], ...]


def psi_bands(warn: float, alert: float) -> Bands:
    """(upper end, status, warning) bands: stable below ``warn``, moderate below ``alert``, major above."""
    if not 0 < warn < alert:
        raise ValueError(f"PSI bands: need 0 < warn < alert, got {warn:g} and {alert:g}")
    return ((warn, "stable", False), (alert, "moderate", True), (math.inf, "major", True))


# The default bands, by the industry convention (Siddiqi, *Credit Risk Scorecards*, 2006): below
# 0.10 stable; up to 0.25 a moderate shift worth a look; above it a major shift. Moderate and major
# both raise a warning in the monthly report and the Prefect artifact. A workspace sets its own
# with ``audit.psi_warn`` and ``audit.psi_alert`` (riskstrat.toml).
PSI_THRESHOLDS: Bands = psi_bands(0.10, 0.25)
EPSILON = 1e-4
DECILES = 10
MISSING = "<missing>"
UNSEEN = "<unseen>"


def psi_status(value: float, bands: Bands = PSI_THRESHOLDS) -> tuple[str, bool]:
    """(status, warning) for a PSI value, from ``bands`` (:func:`psi_bands`); NaN is ("no data", True)."""
    if not np.isfinite(value):
        return "no data", True
    for upper, status, warn in bands:
        if value < upper:
            return status, warn
    return bands[-1][1], bands[-1][2]


def is_categorical(values: pd.Series) -> bool:
    """Text, boolean and category columns are binned by value; numbers by quantile."""
    dtype = values.dtype
    return not pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype)


@dataclass
class BinProfile:
    """How one column was binned in the reference, and the reference's share in each bin.

    Numeric: ``edges`` are the upper ends of the right-closed bins, the last bin open above;
    ``labels`` name them ("≤ 0", "(0, 2]", "> 2"). Categorical: ``labels`` are the reference
    values. ``missing`` and ``unseen`` shares are kept apart from ``shares``. JSON-ready via
    :func:`dataclasses.asdict`, so a profile can be stored beside a model and the training
    data need not be kept to judge drift against it.
    """

    column: str
    kind: str
    labels: list[str]
    shares: list[float]
    n: int
    edges: list[float] = field(default_factory=list)
    missing: float = 0.0
    unseen: float = 0.0

    def to_dict(self) -> dict:
        """JSON-ready form."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "BinProfile":
        """Inverse of :meth:`to_dict`."""
        return cls(**data)


def _numeric(values: pd.Series) -> np.ndarray:
    return pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)


def _edge_labels(edges: list[float]) -> list[str]:
    if not edges:
        return ["all"]
    fmt = lambda x: f"{x:g}"  # noqa: E731
    labels = [f"≤ {fmt(edges[0])}"]
    labels += [f"({fmt(a)}, {fmt(b)}]" for a, b in zip(edges, edges[1:])]
    labels.append(f"> {fmt(edges[-1])}")
    return labels


def _numeric_counts(x: np.ndarray, edges: list[float]) -> tuple[np.ndarray, int]:
    present = x[~np.isnan(x)]
    idx = np.searchsorted(np.asarray(edges, dtype=float), present, side="left")
    return np.bincount(idx, minlength=len(edges) + 1), int(np.isnan(x).sum())


def profile_column(values: pd.Series, column: str | None = None, bins: int = DECILES) -> BinProfile:
    """Bin a reference column (see the module docstring) and record its shares."""
    column = column or str(values.name)
    n = len(values)
    if is_categorical(values):
        text = values.astype("string")
        counts = text.value_counts(dropna=True).sort_index()
        return BinProfile(column=column, kind="categorical", labels=[str(v) for v in counts.index],
                          shares=[c / n for c in counts.to_numpy()] if n else [], n=n,
                          missing=float(text.isna().sum() / n) if n else 0.0)
    x = _numeric(values)
    present = x[~np.isnan(x)]
    edges: list[float] = []
    if len(present):
        # inverted_cdf keeps every edge on a value the reference holds, so integer counts bin on
        # whole numbers (≤ 0, (0, 1], …) and ties collapse instead of splitting a mass of zeros.
        qs = np.quantile(present, np.arange(1, bins) / bins, method="inverted_cdf")
        edges = sorted(set(float(q) for q in qs))
        if edges and edges[-1] >= present.max():
            edges = edges[:-1]  # the top bin would be empty by construction
    counts, missing = _numeric_counts(x, edges)
    return BinProfile(column=column, kind="numeric", labels=_edge_labels(edges),
                      shares=[c / n for c in counts] if n else [], n=n, edges=edges,
                      missing=missing / n if n else 0.0)


def profile(frame: pd.DataFrame, columns: Sequence[str] | None = None, bins: int = DECILES) -> dict[str, BinProfile]:
    """:func:`profile_column` for each column (default: all but ``person_id``)."""
    columns = [c for c in frame.columns if c != "person_id"] if columns is None else list(columns)
    return {c: profile_column(frame[c], c, bins) for c in columns}


def bin_shares(prof: BinProfile, values: pd.Series) -> tuple[list[str], np.ndarray, np.ndarray]:
    """(bin labels, reference shares, current shares) of ``values`` on the reference's bins.

    The missing and unseen bins are appended when either side has any.
    """
    n = len(values)
    labels = list(prof.labels)
    ref = list(prof.shares)
    if prof.kind == "categorical":
        text = values.astype("string")
        counts = text.value_counts(dropna=True)
        cur = [float(counts.get(v, 0)) for v in prof.labels]
        unseen = float(counts[~counts.index.isin(prof.labels)].sum())
        missing = float(text.isna().sum())
    else:
        c, m = _numeric_counts(_numeric(values), prof.edges)
        cur, unseen, missing = [float(v) for v in c], 0.0, float(m)
    cur_shares = [v / n for v in cur] if n else [math.nan] * len(cur)
    if prof.unseen or unseen:
        labels.append(UNSEEN)
        ref.append(prof.unseen)
        cur_shares.append(unseen / n if n else math.nan)
    if prof.missing or missing:
        labels.append(MISSING)
        ref.append(prof.missing)
        cur_shares.append(missing / n if n else math.nan)
    return labels, np.asarray(ref, dtype=float), np.asarray(cur_shares, dtype=float)


def psi_from_shares(reference, current, epsilon: float = EPSILON) -> float:
    """PSI of two share vectors over the same bins; shares are floored at ``epsilon`` so empty bins count."""
    ref = np.maximum(np.asarray(reference, dtype=float), epsilon)
    cur = np.maximum(np.asarray(current, dtype=float), epsilon)
    if np.isnan(ref).any() or np.isnan(cur).any():
        return math.nan
    return float(np.sum((cur - ref) * np.log(cur / ref)))


def psi(reference: pd.Series, current: pd.Series, bins: int = DECILES, epsilon: float = EPSILON) -> float:
    """Population stability index of ``current`` against ``reference`` (bins from the reference)."""
    prof = profile_column(pd.Series(reference), "value", bins)
    _, ref, cur = bin_shares(prof, pd.Series(current))
    return psi_from_shares(ref, cur, epsilon)


def psi_table(
    reference: pd.DataFrame | dict[str, BinProfile],
    current: pd.DataFrame,
    columns: Sequence[str] | None = None,
    *,
    against: str = "training",
    bins: int = DECILES,
    epsilon: float = EPSILON,
    bands: Bands = PSI_THRESHOLDS,
) -> pd.DataFrame:
    """PSI of each column of ``current`` against ``reference``: a tidy table with a status per column.

    ``reference`` is a frame (the training rows, last month's rows) or stored profiles from
    :func:`profile`. ``against`` names the reference in the table ("training", "last month").
    Columns: ``against``, ``column``, ``kind``, ``psi``, ``status``, ``warning``, ``bins``,
    ``largest_shift`` (the bin whose share moved most, e.g. "≤ 0: 82.0% → 71.3%"), ``n_reference``
    and ``n_current``. Sorted by PSI, largest first.
    """
    profiles = reference if isinstance(reference, dict) else None
    if columns is None:
        columns = list(profiles) if profiles is not None else [c for c in reference.columns if c != "person_id"]
    rows = []
    for column in columns:
        if column not in current:
            raise ValueError(f"psi_table: the current frame has no column {column!r}")
        if profiles is not None:
            if column not in profiles:
                raise ValueError(f"psi_table: the reference profile has no column {column!r}")
            prof = profiles[column]
        else:
            if column not in reference:
                raise ValueError(f"psi_table: the reference frame has no column {column!r}")
            prof = profile_column(reference[column], column, bins)
        labels, ref, cur = bin_shares(prof, current[column])
        value = psi_from_shares(ref, cur, epsilon)
        status, warning = psi_status(value, bands)
        moved = np.abs(cur - ref)
        i = int(np.nanargmax(moved)) if len(moved) and np.isfinite(moved).any() else None
        shift = "" if i is None else f"{labels[i]}: {100 * ref[i]:.1f}% → {100 * cur[i]:.1f}%"
        rows.append({"against": against, "column": column, "kind": prof.kind, "psi": value, "status": status,
                     "warning": warning, "bins": len(labels), "largest_shift": shift,
                     "n_reference": prof.n, "n_current": len(current)})
    table = pd.DataFrame(rows, columns=["against", "column", "kind", "psi", "status", "warning", "bins",
                                        "largest_shift", "n_reference", "n_current"])
    return table.sort_values("psi", ascending=False, kind="mergesort", na_position="first").reset_index(drop=True)


def drift_warnings(table: pd.DataFrame) -> list[str]:
    """One line per column whose PSI raised a warning, for the report and the Prefect artifact."""
    return [
        f"{r.column}: PSI {r.psi:.3f} against {r.against} ({r.status} shift; {r.largest_shift})"
        if np.isfinite(r.psi) else f"{r.column}: no data to compare against {r.against}"
        for r in table[table["warning"]].itertuples()
    ]
