"""What a model carries from training for the audit: fairness on its test months, and a drift reference.

Both are computed once, when the model is fitted (``riskstrat.model.train.fit_and_register``), and
stored in its registry folder beside the card, so the card, the monthly report and the audit
notebook read them instead of rebuilding the training data:

- ``fairness.json`` — :func:`held_out_fairness`: the fairness table of :mod:`riskstrat.audit.fairness`
  on the held-out test months (outcomes known), the largest gaps in words, and the Obermeyer
  need-at-equal-score check by race, ethnicity and aid category. Flags are the top
  ``capacity × test_share`` children per test month, the depth the card's metrics use. Groups come
  from each test month's eligibility snapshot in the lake; a model fitted on a frame with no lake
  behind it records why there are none.
- ``drift_reference.json`` — :func:`drift_reference`: the binned distribution
  (:func:`riskstrat.audit.drift.profile`) of every model feature and of the calibrated score on the
  training rows (the same fixed sample the logistic baseline is fitted on), pooled and month by
  month, and how far each column moves between months; so each month's PSI against what training
  expects of it (:func:`expected_profiles`) needs no training data.

Neither file decides a prediction, so neither is part of the model id; both are checksummed.
Only shares, counts and rates are stored: no row of member data.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from riskstrat.audit.drift import BinProfile, pooled, profile_column, psi_matrix, shares_on
from riskstrat.audit.fairness import (
    GROUP_COLUMNS,
    NeedCheck,
    describe_need_gaps,
    fairness_table,
    largest_gaps,
    need_at_equal_score,
)
from riskstrat.audit.performance import held_out_capacity
from riskstrat.audit.workspace import month_groups
from riskstrat.core.months import add_months, month_index
from riskstrat.core.ranking import pick_top
from riskstrat.core.workspace import lake_partitions, partition_month
from riskstrat.features import FeatureError

SCORE = "score"
# Need a score ought to track (Obermeyer et al.): the realised outcome first, then chronic illness.
NEED_MEASURES: tuple[str, ...] = ("outcome", "chronic_condition_groups_12m", "pmca_class")
NEED_ATTRIBUTES: tuple[str, ...] = ("race", "ethnicity", "aid_category")


def row_groups(workspace: Path | str, rows: pd.DataFrame,
               snapshots: dict[str, pd.DataFrame] | None = None) -> tuple[pd.DataFrame | None, str]:
    """(person_id, as_of and the fairness groups of each row, note); (None, why) when the lake has no snapshot.

    The age band is the feature ``age_years`` where the model has it (the age the child was
    scored at), else the age at the end of the month. ``snapshots`` as for
    :func:`~riskstrat.audit.workspace.month_groups`.
    """
    parts = []
    for month, part in rows.groupby("as_of", sort=True):
        ages = part[["person_id", "age_years"]].rename(columns={"age_years": "age"}) if "age_years" in part else None
        try:
            groups = month_groups(workspace, str(month), ages, snapshots)
        except FeatureError as exc:
            return None, f"no groups for the test months: {exc}"
        parts.append(groups.assign(as_of=str(month)))
    return pd.concat(parts, ignore_index=True), "groups from each test month's eligibility snapshot in the lake"


def _records(frame: pd.DataFrame) -> list[dict]:
    return frame.astype(object).where(frame.notna(), None).to_dict(orient="records")


def held_out_fairness(
    rows: pd.DataFrame,
    score: np.ndarray,
    outcome: np.ndarray,
    groups: pd.DataFrame | None,
    capacity: int,
    *,
    note: str = "",
    label: str = "",
) -> dict:
    """fairness.json: the test months' fairness table, the largest gaps in words, and the need checks.

    ``rows`` are the test rows (person_id, as_of and the features), ``score`` their calibrated
    probability and ``outcome`` their 0/1 label; ``groups`` is :func:`row_groups`'s frame or
    None. ``capacity`` is how many children per test month are flagged.
    """
    months = sorted(set(rows["as_of"].astype(str)))
    head = {"months": months, "capacity_per_month": int(capacity), "label": label, "note": note}
    if groups is None:
        return head | {"available": False}
    frame = rows[["person_id", "as_of"]].assign(
        person_id=rows["person_id"].astype("string"), as_of=rows["as_of"].astype(str),
        score=np.asarray(score, dtype=float), outcome=np.asarray(outcome, dtype=int),
        flagged=pick_top(score, rows["person_id"], capacity, groups=rows["as_of"].astype(str)).astype(int))
    frame = frame.merge(groups, on=["person_id", "as_of"], how="left")
    for column in GROUP_COLUMNS:
        frame[column] = frame[column].fillna("unknown")
    table = fairness_table(frame, GROUP_COLUMNS)
    present = [m for m in NEED_MEASURES if m == "outcome" or m in rows]
    for m in present[1:]:
        frame[m] = pd.to_numeric(rows[m], errors="coerce").to_numpy(dtype=float)
    need = []
    for attribute in NEED_ATTRIBUTES:
        check = need_at_equal_score(frame, attribute, present)
        need.append({"attribute": attribute, "reference": check.reference, "measures": list(check.measures),
                     "min_n": check.min_n, "summary": _records(check.summary), "table": _records(check.table),
                     "sentences": describe_need_gaps(check)})
    return head | {
        "available": True, "children": int(frame["person_id"].nunique()), "rows": int(len(frame)),
        "min_n": int(table.attrs["min_n"]), "table": _records(table), "gaps": largest_gaps(table), "need": need,
    }


def fairness_frame(fairness: dict) -> pd.DataFrame:
    """The stored fairness table as a frame (with its ``min_n``), as :func:`fairness_table` returned it."""
    table = pd.DataFrame(fairness["table"])
    table.attrs["min_n"] = fairness.get("min_n")
    return table


def need_checks(fairness: dict) -> list[NeedCheck]:
    """The stored need-at-equal-score checks, as :class:`NeedCheck` objects (for plots)."""
    return [NeedCheck(table=pd.DataFrame(n["table"]), summary=pd.DataFrame(n["summary"]), attribute=n["attribute"],
                      reference=n["reference"], measures=tuple(n["measures"]), min_n=n["min_n"])
            for n in fairness.get("need", [])]


def first_full_month(workspace: Path | str, lookback_months: int) -> str | None:
    """The first as-of month whose look-back lies wholly after the lake's first eligibility delivery; None without one."""
    months = sorted(partition_month(p) for p in lake_partitions(workspace) if p.parent.parent.name == "eligibility")
    return add_months(months[0], lookback_months - 1) if months else None


def drift_reference(rows: pd.DataFrame, features: Sequence[str], predict: Callable[[pd.DataFrame], np.ndarray],
                    full_from: str | None = None) -> dict:
    """drift_reference.json: bins and shares of each feature and of the score on the training rows, month by month.

    ``rows`` carry ``as_of``. Kept: ``profiles``, every column binned on all months pooled;
    ``by_month``, each month's rows and shares on those bins (the missing share last), so a month
    can be compared with the same calendar month of training; and ``spread``, per column, how far
    it moves when nothing changed: ``adjacent``, the largest PSI between two months next to each
    other or a year apart (noise, a month of season, a year of slow change), and ``any``, the
    largest between any two months (the whole seasonal swing as well).

    Months before ``full_from`` (:func:`first_full_month`) are left out: their look-back reaches
    before the plan's first delivery, so 12-month counts (enrolled months, visits, paid PMPM) are
    truncated there. Kept in, they would make the start of the data part of what later months are
    expected to look like, and their distance from every later month would raise each column's
    spread until no real shift could warn. When every month is that early they are all kept: a
    reference with the artefact beats none.
    """
    months = rows["as_of"].astype(str).to_numpy()
    full = months >= full_from if full_from else np.ones(len(rows), dtype=bool)
    kept = full if full.any() else ~full
    frame = rows.loc[kept, list(features)].copy()
    frame[SCORE] = predict(rows.loc[kept])
    month_of_row = months[kept]
    # A column with no value at all in a month (the year-before window, before the data reached
    # back to it) says nothing of that month: such months are left out of that column's reference
    # instead of teaching it to expect a missing value, and a column never known is not kept.
    # (one grouped pass over the rows: a set of months per column took 1.5 s on a 500k plan's reference)
    has_value = frame.notna().groupby(month_of_row, sort=True).any()
    known = {c: has_value.index[has_value[c].to_numpy()].tolist() for c in frame.columns}
    every_month = has_value.index.tolist()
    row_months = pd.Series(month_of_row)
    profiles = {c: profile_column(frame[c] if known[c] == every_month
                                  else frame.loc[row_months.isin(known[c]).to_numpy(), c], c)
                for c in frame.columns if known[c]}
    by_month = {month: {c: shares_on(p, part[c]) if month in known[c] else p for c, p in profiles.items()}
                for month, part in frame.groupby(month_of_row, sort=True)}
    spread: dict[str, dict[str, float]] = {"adjacent": {}, "any": {}}
    for c in profiles:
        index = np.array([month_index(m) for m in known[c]])
        matrix = psi_matrix([by_month[m][c] for m in known[c]])
        apart = np.abs(index[:, None] - index[None, :])
        pairs = {"adjacent": (apart == 1) | ((apart > 0) & (apart % 12 == 0)), "any": apart > 0}
        for name, mask in pairs.items():
            spread[name][c] = float(matrix[mask].max(initial=0.0))
    return {
        "source": "training rows", "months": list(by_month), "rows": int(len(frame)),
        "months_left_out": sorted(set(months[~kept])), "full_look_back_from": full_from,
        "months_left_out_by_column": {c: sorted(set(by_month) - set(known[c])) for c in frame.columns
                                      if set(known[c]) != set(by_month)},
        "profiles": {name: p.to_dict() for name, p in profiles.items()},
        # Six decimals: shares are floored at 1e-4 before any PSI, and the file stays small.
        "by_month": {month: {"rows": cols[SCORE].n,
                             "shares": {c: [round(v, 6) for v in [*p.shares, p.missing]] for c, p in cols.items()}}
                     for month, cols in by_month.items()},
        "spread": spread,
    }


def reference_profiles(reference: dict) -> dict[str, BinProfile]:
    """The stored profiles of :func:`drift_reference`, all training months pooled, ready for ``psi_table``."""
    return {name: BinProfile.from_dict(p) for name, p in reference["profiles"].items()}


def month_to_month_spread(reference: dict) -> dict[str, float]:
    """Per column, the largest PSI between neighbouring training months (none in a reference from before they were kept)."""
    return reference.get("spread", {}).get("adjacent", {})


def expected_profiles(reference: dict, as_of: str | None) -> tuple[dict[str, BinProfile], dict[str, float], str]:
    """(what month ``as_of`` is expected to look like, per column; how far each column strays
    from it when nothing changed; in words, what the month is compared with).

    The same calendar month of training when the reference holds it (pooled over the years it
    holds), since a seasonal feature differs between the months of one year more than between
    the same month of two; it strays by the spread of neighbouring months. Otherwise every
    training month pooled, which a month may stray from by the whole seasonal swing (the spread
    of any two months). A reference stored before months were kept apart (no ``by_month``) has
    only its pooled rows and no spread.
    """
    profiles = reference_profiles(reference)
    by_month = reference.get("by_month")
    if not by_month:
        return profiles, {}, "the training rows pooled"
    same = [m for m in by_month if as_of and m[5:] == as_of[5:]]
    if not same:
        words = f"the training months {reference['months'][0]} to {reference['months'][-1]} pooled"
        return profiles, reference["spread"]["any"], words
    expected = {c: pooled([_stored_month(p, by_month[m]) for m in same]) for c, p in profiles.items()}
    return expected, month_to_month_spread(reference), f"{' and '.join(same)}, the same calendar month in training"


def _stored_month(prof: BinProfile, month: dict) -> BinProfile:
    shares = month["shares"][prof.column]
    # No training month holds a value outside the bins, which were drawn from all of them.
    return replace(prof, n=month["rows"], shares=shares[:-1], missing=shares[-1], unseen=0.0)


def model_audit(workspace: Path | str, test: pd.DataFrame, test_score: np.ndarray, training_rows: pd.DataFrame,
                predict: Callable[[pd.DataFrame], np.ndarray], features: Sequence[str], design, settings,
                label: str = "label", snapshots: dict[str, pd.DataFrame] | None = None) -> tuple[dict, dict]:
    """(fairness.json, drift_reference.json) for a model just fitted.

    ``test_score``: the test rows' calibrated out-of-fold probabilities (what the card's metrics
    judge); ``predict``: the registered model's, for the drift reference's training rows. The flag
    depth is the one the card's metrics use: the monthly capacity. ``snapshots`` as for
    :func:`~riskstrat.audit.workspace.month_groups`: the lists trained together share their test
    months' snapshots.
    """
    capacity = held_out_capacity(settings)
    groups, note = row_groups(workspace, test, snapshots)
    fairness = held_out_fairness(test, test_score, test[label].to_numpy(dtype=int), groups, capacity, note=note,
                                 label=design.label_definition)
    return fairness, drift_reference(training_rows, features, predict,
                                     first_full_month(workspace, design.lookback_months))
