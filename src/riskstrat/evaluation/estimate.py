"""The effect estimates: difference-in-differences on the matched cohort, the event study, and the naive before/after.

Each enrolled child and their comparison form a *unit* observed month by month from
``pre_months`` before the index month to the end of the follow-up window, in the months the plan
covered them; the index month itself is left out of the estimates (enrolment happens during it,
and the effect is expected from the next month). A comparison child who enrols somewhere later
stays a comparison: the comparison is with usual care (:func:`riskstrat.evaluation.cohort.candidates`).

- **Difference-in-differences** (pyfixest): the outcome on ``enrolled × after`` with unit fixed
  effects and calendar-month fixed effects within each index month's matched sets (a *stacked*
  design, Cengiz et al. 2019: enrolled children are compared only with their own comparisons over
  the same calendar months, never with children enrolled earlier or later, whose months around
  enrolment move differently from any calendar trend; plain calendar-month effects across the
  stacks made a programme with no planted effect look like it cut PMPM by a third), errors
  clustered by child, each comparison weighted by 1 / its matched set's comparisons
  (:func:`matched_units`). Counts (admissions, ED visits, crises) use Poisson regression, so the coefficient is a log rate ratio and the change is
  ``exp(b) - 1``; paid PMPM uses least squares, in dollars, and its change is given against the
  enrolled children's counterfactual (their mean after, minus the effect).
- **Event study**: the same models with one ``enrolled × period-relative-to-index`` term per
  three months (:data:`BIN_MONTHS`; :data:`REFERENCE_BIN` is the reference). The stacking is what
  makes it valid with staggered enrolment: early and late enrollees are never each other's controls
  (the problem of two-way fixed effects with staggered timing).
- **Naive before/after**: the enrolled children alone, after against before, with child fixed
  effects. This is what a pilot's table usually reports; the gap between it and the
  difference-in-differences is what regression to the mean would have claimed.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyfixest as pf

from riskstrat.core.months import month_numbers


@dataclass(frozen=True)
class Outcome:
    """One outcome evaluated: its column in the panel, its name in the report, and its model."""

    column: str
    label: str
    poisson: bool


OUTCOMES = (
    Outcome("ip_admits", "Acute admissions", True),
    Outcome("ed_visits", "ED visits", True),
    Outcome("bh_crises", "Behavioural-health crises", True),
    Outcome("paid", "Paid PMPM", False),
)


def unit_panel(units: pd.DataFrame, use: pd.DataFrame, pre_months: int, post_months: int,
               last_month: str) -> pd.DataFrame:
    """Month-by-month rows of every matched unit (:func:`matched_units`): unit, person_id, group (the enrolled child's
    matched set), weight, treated, month, stack_month (the calendar month within the index month's
    stack), rel (months from the index month), post and the outcomes; months the plan did not
    cover are absent."""
    units = units[["person_id", "index_month", "treated", "group", "weight"]].assign(unit=np.arange(len(units)))
    units["index_number"] = month_numbers(units["index_month"])
    panel = units.merge(use.assign(month_number=month_numbers(use["month"])), on="person_id")
    panel["rel"] = panel["month_number"] - panel["index_number"]
    keep = (panel["rel"] >= -pre_months) & (panel["rel"] <= post_months) & (panel["month"] <= last_month)
    panel = panel[keep.to_numpy(dtype=bool)].copy()
    panel["post"] = (panel["rel"] > 0).astype(int)
    panel["stack_month"] = panel["index_month"] + "|" + panel["month"]
    panel["treat_post"] = panel["treated"] * panel["post"]
    columns = ["unit", "person_id", "group", "weight", "treated", "index_month", "month", "stack_month", "rel", "post",
               "treat_post", *(o.column for o in OUTCOMES)]
    return panel[columns].sort_values(["unit", "month"], ignore_index=True)


def matched_units(cohort: pd.DataFrame, pairs: pd.DataFrame) -> pd.DataFrame:
    """The cohort rows of every enrolled child with a match and of each comparison, with ``group``
    (the enrolled child's matched set, numbered in cohort order) and ``weight``: 1 for an enrolled
    child, 1 / its set's comparisons for a comparison, so that every enrolled child's comparisons
    weigh as much as the child. Unweighted, the children easiest to match (three comparisons each)
    would outweigh the hardest (one), and the comparison group would be healthier than the balance
    table says."""
    enrolled = np.unique(pairs["treated_row"].to_numpy())
    group = pd.Series(np.arange(len(enrolled)), index=enrolled)
    rows = np.concatenate([enrolled, pairs["comparison_row"].to_numpy()])
    units = cohort.iloc[rows].reset_index(drop=True)
    units["group"] = np.concatenate([group.to_numpy(), group.reindex(pairs["treated_row"]).to_numpy()])
    units["weight"] = np.concatenate([np.ones(len(enrolled)), pairs["weight"].to_numpy(dtype=float)])
    return units


@dataclass(frozen=True)
class Estimate:
    """One estimated change, as a percentage with its 95% interval, and the model's own coefficient."""

    percent: float
    low: float
    high: float
    coefficient: float
    std_error: float


def _informative(data: pd.DataFrame, column: str, fixed: tuple[str, ...]) -> pd.DataFrame:
    """The rows a Poisson model with these fixed effects learns from: a unit, or a stack's month,
    whose outcome is 0 throughout has an effect of minus infinity and says nothing about the
    others; dropped, repeatedly, until none is left (as R's fixest does). Left in, they stop
    pyfixest's demeaning from converging."""
    while True:
        before = len(data)
        for name in fixed:
            data = data[data.groupby(name)[column].transform("sum").to_numpy() > 0]
        if len(data) == before:
            return data


def _fit(outcome: Outcome, rhs: str, data: pd.DataFrame, fixed: tuple[str, ...]) -> pd.DataFrame | None:
    """The fit's coefficient table (``outcome ~ rhs | fixed``, weighted, clustered by child), or None
    when the data cannot identify it: when every enrolled child's outcome is 0 throughout, nothing
    is left to compare."""
    if outcome.poisson:
        data = _informative(data, outcome.column, fixed)
    formula = f"{outcome.column} ~ {rhs} | {' + '.join(fixed)}"
    with warnings.catch_warnings():
        # pyfixest warns about each unit it drops itself; that is the model working as it should
        warnings.simplefilter("ignore", UserWarning)
        try:
            fit = (pf.fepois if outcome.poisson else pf.feols)(formula, data=data, vcov={"CRV1": "person_id"},
                                                               weights="weight")
        except ValueError:  # pyfixest: "All variables are collinear" once the informative units are gone
            return None
    return fit.tidy()


#: Fixed effects of the difference-in-differences and the event study: the unit, and the calendar
#: month within its index month's stack.
STACKED = ("unit", "stack_month")


NOT_ESTIMABLE = Estimate(np.nan, np.nan, np.nan, np.nan, np.nan)


#: A Poisson coefficient this large (a rate ratio beyond e^10) is a fit that ran off towards
#: infinity on a handful of events (quasi-separation), not an estimate.
MAX_LOG_RATE_RATIO = 10.0


def _as_percent(row: pd.Series, poisson: bool, baseline: float) -> Estimate:
    b, se, low, high = (float(row[k]) for k in ("Estimate", "Std. Error", "2.5%", "97.5%"))
    if not np.isfinite([b, se]).all() or (poisson and abs(b) > MAX_LOG_RATE_RATIO):
        return NOT_ESTIMABLE
    if poisson:
        with np.errstate(over="ignore"):  # an interval from a handful of events may run to infinity: it is shown so
            return Estimate(100 * np.expm1(b), 100 * np.expm1(low), 100 * np.expm1(high), b, se)
    scale = 100 / baseline if baseline > 0 else np.nan
    return Estimate(b * scale, low * scale, high * scale, b, se)


def window(panel: pd.DataFrame, months: int) -> pd.DataFrame:
    """The rows an estimate over ``months`` of follow-up uses: the pre-period and months 1..``months`` after."""
    return panel[(panel["rel"] != 0) & (panel["rel"] <= months)]


def _events_in_every_cell(panel: pd.DataFrame, outcome: Outcome) -> bool:
    """Whether each group (enrolled, comparison, as present) has events both before and after: a
    Poisson rate ratio with none on one side is infinite or zero, not an estimate."""
    if not outcome.poisson:
        return True
    totals = panel.groupby(["treated", "post"])[outcome.column].sum()
    return len(totals) == 2 * panel["treated"].nunique() and bool((totals > 0).all())


def _change(outcome: Outcome, term: str, data: pd.DataFrame, fixed: tuple[str, ...],
            baseline: Callable[[float], float]) -> Estimate:
    """The change ``term`` stands for, or :data:`NOT_ESTIMABLE`; ``baseline(coefficient)`` is what a
    linear model's dollars are a percentage of."""
    if not _events_in_every_cell(data, outcome):
        return NOT_ESTIMABLE
    tidy = _fit(outcome, term, data, fixed)
    if tidy is None or term not in tidy.index:
        return NOT_ESTIMABLE
    row = tidy.loc[term]
    return _as_percent(row, outcome.poisson, baseline(float(row["Estimate"])))


def did(panel: pd.DataFrame, outcome: Outcome) -> Estimate:
    """Stacked difference-in-differences (:data:`STACKED` fixed effects), clustered by child; PMPM's
    dollars are a percentage of the enrolled children's counterfactual mean after (their mean less the effect)."""
    after = _mean(panel[(panel["treated"] == 1) & (panel["post"] == 1)], outcome)
    return _change(outcome, "treat_post", panel, STACKED, lambda b: after - b)


def naive(panel: pd.DataFrame, outcome: Outcome) -> Estimate:
    """The enrolled children's change from before to after, with child fixed effects, clustered by child."""
    enrolled = panel[panel["treated"] == 1]
    before = _mean(enrolled[enrolled["post"] == 0], outcome)
    return _change(outcome, "post", enrolled, ("unit",), lambda b: before)


#: The event study groups months by three (an acute admission is too rare for one month of one
#: cohort to say much): bins 1..4 are months 1-3, 4-6, 7-9 and 10-12 after enrolment, -1..-4 the
#: same before, 0 the index month alone.
BIN_MONTHS = 3
#: The reference bin: months 4-6 before enrolment. The three months just before hold the crisis
#: that brings many children to a programme (they are matched on it as recent acute use), so
#: against them every other period would look like a fall.
REFERENCE_BIN = -2


def event_bins(rel: pd.Series) -> np.ndarray:
    """Each month relative to the index month as its event-study bin (0: the index month)."""
    r = rel.to_numpy()
    return (np.sign(r) * np.ceil(np.abs(r) / BIN_MONTHS)).astype(int)


def _bin_middle(b: int) -> float:
    return float(np.sign(b) * (BIN_MONTHS * abs(b) - (BIN_MONTHS - 1) / 2)) if b else 0.0


def event_study(panel: pd.DataFrame, outcome: Outcome) -> pd.DataFrame:
    """One estimate per bin of months around the index month (rel: the bin's middle month, percent, low,
    high); :data:`REFERENCE_BIN` is 0 by construction. Only that row when the outcome is too rare."""
    reference = pd.DataFrame({"rel": [_bin_middle(REFERENCE_BIN)], "percent": [0.0], "low": [0.0], "high": [0.0]})
    if not _events_in_every_cell(panel, outcome):
        return reference
    binned = panel.assign(bin=event_bins(panel["rel"]))
    tidy = _fit(outcome, f"i(bin, treated, ref={REFERENCE_BIN})", binned, STACKED)
    if tidy is None:
        return reference
    bins = tidy.index.str.extract(r"bin::(-?\d+):treated", expand=False).astype(int)
    baseline = _mean(binned[(binned["treated"] == 1) & (binned["bin"] == REFERENCE_BIN)], outcome)
    rows = [reference.iloc[0].tolist()]
    for b, (_, row) in zip(bins, tidy.iterrows(), strict=True):
        e = _as_percent(row, outcome.poisson, baseline)
        if np.isfinite([e.percent, e.low, e.high]).all():  # a bin with no event on one side has no estimate
            rows.append([_bin_middle(int(b)), e.percent, e.low, e.high])
    return pd.DataFrame(rows, columns=["rel", "percent", "low", "high"]).sort_values("rel", ignore_index=True)


def _mean(rows: pd.DataFrame, outcome: Outcome) -> float:
    """The outcome's mean per child-month, each row by its unit's weight."""
    weights = rows["weight"].to_numpy(dtype=float)
    return float(np.average(rows[outcome.column], weights=weights)) if weights.sum() > 0 else float("nan")


def rates(panel: pd.DataFrame, outcome: Outcome) -> dict[str, float]:
    """Mean per child-month before and after, for the enrolled and the comparison children (weighted as the fits are)."""
    out = {}
    for treated, who in ((1, "enrolled"), (0, "comparison")):
        for post, when in ((0, "before"), (1, "after")):
            rows = panel[(panel["treated"] == treated) & (panel["post"] == post) & (panel["rel"] != 0)]
            out[f"{who}_{when}"] = _mean(rows, outcome)
    return out
