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
  ``≤ 0`` holding them all, not nine empty ones; a 0/1 flag gets two bins. Values are binned at
  float32, the precision the model reads them in. Labels read as people write numbers: whole
  numbers as ``≤ 0``, ``1``, ``2–3``, ``≥ 4``; other numbers in two or more significant
  figures, ``≤ -0.11``, ``-0.11 to 0.25``, ``> 0.25``.
- categorical columns (text, boolean, category): one bin per reference value; values the
  reference never saw share one "unseen" bin.
- missing values are a bin of their own in both cases: a feed that stops arriving shows up as
  drift, not as a smaller denominator.

An empty bin on either side would make the log infinite; every share is floored at
:data:`EPSILON` first. The default thresholds are :data:`PSI_THRESHOLDS`; a column that moves
more than them between months when nothing changed (a seasonal feature, a small plan's noise)
gets its own, raised in proportion (:func:`alarm_bands`, from the :func:`psi_matrix` of the
months of a reference described on common bins by :func:`shares_on`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace

import numpy as np
import pandas as pd
from scipy.stats import chi2

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


def alarm_bands(spread: float, warn: float, alert: float) -> Bands:
    """The bands of a column whose PSI between two months reaches ``spread`` when nothing changed.

    A shift is judged against how much the column moves anyway (seasonality, or the noise of a
    small plan's months): it warns from the larger of ``warn`` and ``spread``, and is major from
    the larger of ``alert`` and ``spread`` scaled as ``alert`` is to ``warn``.
    """
    return psi_bands(max(warn, spread), max(alert, spread * alert / warn))


#: How sure the sampling-noise floor is that a PSI above it is not chance (per column and month).
NOISE_CONFIDENCE = 0.999


def noise_floor(n_reference: int, n_current: int, bins: int) -> float:
    """The PSI two samples of these sizes reach by chance alone, at :data:`NOISE_CONFIDENCE`.

    With no change, PSI is close to a chi-square statistic with ``bins - 1`` degrees of freedom
    scaled by ``1/n_reference + 1/n_current``: a programme's list of a few dozen children moves by
    0.2-0.6 from month to month on noise alone, which no fixed threshold allows for.
    """
    if n_reference <= 0 or n_current <= 0 or bins < 2:
        return 0.0
    return float((1 / n_reference + 1 / n_current) * chi2.ppf(NOISE_CONFIDENCE, bins - 1))


def raised_to(bands: Bands, floor: float) -> Bands:
    """``bands`` with the warning level at least ``floor`` (the major level raised in proportion)."""
    warn, alert = bands[0][0], bands[1][0]
    if floor <= warn:
        return bands
    return psi_bands(floor, max(alert, floor * alert / warn))


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
    # Binned at float32, the precision the model reads features in: training stores its frame as
    # float32 while a month's features arrive as float64, and -1/9 in float32 lies below -1/9 in
    # float64, so at float64 every child exactly on an edge changed bin between training and the month.
    return pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float32)


def _number(value: float, digits: int) -> str:
    text = np.format_float_positional(value, precision=digits, unique=True, fractional=False, trim="-")
    return "0" if text == "-0" else text


def _numbers(edges: list[float]) -> list[str]:
    """The edges in as few significant figures as keep them apart, at least two (17 tell any floats apart)."""
    for digits in range(2, 18):
        texts = [_number(e, digits) for e in edges]
        if len(set(texts)) == len(texts):
            break
    return texts


def edge_labels(edges: list[float], integer: bool) -> list[str]:
    """Bin labels as people write them.

    Whole numbers: "≤ 0", "1", "2–3", "≥ 4". Others: "≤ -0.11", "-0.11 to 0.25", "> 0.25".
    """
    if not edges:
        return ["all"]
    if not integer:
        texts = _numbers(edges)
        return [f"≤ {texts[0]}", *(f"{a} to {b}" for a, b in zip(texts, texts[1:])), f"> {texts[-1]}"]
    ints = [int(e) for e in edges]
    middle = [str(b) if a + 1 == b else f"{a + 1}{'–' if a + 1 >= 0 else ' to '}{b}" for a, b in zip(ints, ints[1:])]
    return [f"≤ {ints[0]}", *middle, f"≥ {ints[-1] + 1}"]


def _numeric_counts(x: np.ndarray, edges: list[float]) -> tuple[np.ndarray, int]:
    present = x[~np.isnan(x)]
    idx = np.searchsorted(np.asarray(edges, dtype=np.float32), present, side="left")
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
        # whole numbers (≤ 0, 1, 2–3, …) and ties collapse instead of splitting a mass of zeros.
        qs = np.quantile(present, np.arange(1, bins) / bins, method="inverted_cdf")
        edges = sorted(set(float(q) for q in qs))
        if len(edges) > 1 and edges[-1] >= present.max():
            edges = edges[:-1]  # the top bin would be empty by construction
        # A reference that holds one value keeps its edge: the empty bin above it is where a change
        # shows (a self-harm flag no child of a small list had last month, and 2% have now), where
        # one bin of "all" would read 100% -> 100%, PSI 0.
    counts, missing = _numeric_counts(x, edges)
    integer = bool(len(present)) and bool(np.all(present == np.floor(present)))
    return BinProfile(column=column, kind="numeric", labels=edge_labels(edges, integer),
                      shares=[c / n for c in counts] if n else [], n=n, edges=edges,
                      missing=missing / n if n else 0.0)


def profile(frame: pd.DataFrame, columns: Sequence[str] | None = None, bins: int = DECILES) -> dict[str, BinProfile]:
    """:func:`profile_column` for each column (default: all but ``person_id``)."""
    columns = [c for c in frame.columns if c != "person_id"] if columns is None else list(columns)
    return {c: profile_column(frame[c], c, bins) for c in columns}


def shares_on(prof: BinProfile, values: pd.Series) -> BinProfile:
    """``values`` binned on ``prof``'s bins: a profile with the same bins and the shares of ``values``.

    This is how one month is described on the bins of several months pooled (the drift reference
    keeps one per training month), so any two such profiles compare bin by bin.
    """
    n = len(values)
    if prof.kind == "categorical":
        text = values.astype("string")
        counts = text.value_counts(dropna=True)
        cur = [float(counts.get(v, 0)) for v in prof.labels]
        unseen = float(counts[~counts.index.isin(prof.labels)].sum())
        missing = float(text.isna().sum())
    else:
        c, m = _numeric_counts(_numeric(values), prof.edges)
        cur, unseen, missing = [float(v) for v in c], 0.0, float(m)
    share = (lambda v: v / n) if n else (lambda v: math.nan)
    return replace(prof, shares=[share(v) for v in cur], n=n, unseen=share(unseen), missing=share(missing))


def pooled(profiles: Sequence[BinProfile]) -> BinProfile:
    """Profiles on the same bins (:func:`shares_on`) as one: their shares weighted by their rows."""
    n = sum(p.n for p in profiles)
    weigh = lambda values: float(np.dot([p.n for p in profiles], values) / n)  # noqa: E731
    return replace(profiles[0], n=n, shares=[weigh(s) for s in zip(*(p.shares for p in profiles))],
                   unseen=weigh([p.unseen for p in profiles]), missing=weigh([p.missing for p in profiles]))


def psi_matrix(profiles: Sequence[BinProfile], epsilon: float = EPSILON) -> np.ndarray:
    """PSI between every two of ``profiles`` (on the same bins, :func:`shares_on`), as a square matrix."""
    shares = np.asarray([[*p.shares, p.unseen, p.missing] for p in profiles], dtype=float).reshape(len(profiles), -1)
    a = np.maximum(shares, epsilon)[:, None, :]
    b = np.maximum(shares, epsilon)[None, :, :]
    return np.sum((a - b) * np.log(a / b), axis=2)


def bin_shares(prof: BinProfile, values: pd.Series) -> tuple[list[str], np.ndarray, np.ndarray]:
    """(bin labels, reference shares, current shares) of ``values`` on the reference's bins.

    The missing and unseen bins are appended when either side has any.
    """
    cur = shares_on(prof, values)
    labels, ref, shares = list(prof.labels), list(prof.shares), list(cur.shares)
    for label, r, c in ((UNSEEN, prof.unseen, cur.unseen), (MISSING, prof.missing, cur.missing)):
        if r or c:
            labels.append(label)
            ref.append(r)
            shares.append(c)
    return labels, np.asarray(ref, dtype=float), np.asarray(shares, dtype=float)


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
    bands: Bands | Mapping[str, Bands] = PSI_THRESHOLDS,
) -> pd.DataFrame:
    """PSI of each column of ``current`` against ``reference``: a tidy table with a status per column.

    ``reference`` is a frame (the training rows, last month's rows) or stored profiles from
    :func:`profile`. ``against`` names the reference in the table ("training", "last month").
    ``bands`` are one set for every column or a set per column (:func:`alarm_bands`).
    Columns: ``against``, ``column``, ``kind``, ``psi``, ``status``, ``warning``, ``warn_at`` and
    ``alert_at`` (the column's bands), ``bins``, ``largest_shift`` (the bin whose share moved most,
    e.g. "≤ 0: 82.0% → 71.3%"), ``n_reference`` and ``n_current``. Sorted by PSI, largest first.
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
        column_bands = raised_to(bands[column] if isinstance(bands, Mapping) else bands,
                                 noise_floor(prof.n, len(current), len(labels)))
        status, warning = psi_status(value, column_bands)
        moved = np.abs(cur - ref)
        i = int(np.nanargmax(moved)) if len(moved) and np.isfinite(moved).any() else None
        shift = "" if i is None else f"{labels[i]}: {100 * ref[i]:.1f}% → {100 * cur[i]:.1f}%"
        rows.append({"against": against, "column": column, "kind": prof.kind, "psi": value, "status": status,
                     "warning": warning, "warn_at": column_bands[0][0], "alert_at": column_bands[1][0],
                     "bins": len(labels), "largest_shift": shift, "n_reference": prof.n, "n_current": len(current)})
    table = pd.DataFrame(rows, columns=["against", "column", "kind", "psi", "status", "warning", "warn_at", "alert_at",
                                        "bins", "largest_shift", "n_reference", "n_current"])
    return table.sort_values("psi", ascending=False, kind="mergesort", na_position="first").reset_index(drop=True)


def drift_warnings(table: pd.DataFrame) -> list[str]:
    """One line per column whose PSI raised a warning, for the report and the Prefect artifact."""
    return [
        f"{r.column}: PSI {r.psi:.3f} against {r.against} "
        f"({r.status} shift, warns from {r.warn_at:.3g}; {r.largest_shift})"
        if np.isfinite(r.psi) else f"{r.column}: no data to compare against {r.against}"
        for r in table[table["warning"]].itertuples()
    ]
