"""Households: flagged siblings (same ``subscriber_id``) are listed together, so one coordinator calls one family once.

The family is placed by its best-ranked child. Siblings who are not flagged are not listed (the
worklist is the flagged children, outputs.md); the worklist says how many other children of the
household are in the plan, so the coordinator can ask.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def household_keys(person_ids: pd.Series, subscriber_ids: pd.Series) -> pd.Series:
    """The household of each child: its subscriber_id, or the child alone when the plan gave none."""
    sub = subscriber_ids.astype("string").str.strip()
    alone = sub.isna() | (sub == "")
    return sub.mask(alone, "person:" + person_ids.astype("string"))


def household_order(scores: pd.DataFrame, children_of: pd.Series | None = None) -> pd.DataFrame:
    """The flagged children in worklist order, siblings together.

    Needs person_id, household_key, rank and flagged columns for the list's population.
    ``children_of``: the number of children in the plan per household_key (:func:`household_sizes`),
    when the list's population is narrower than the plan's (a programme's list): its other
    children are still the family's. Returns the flagged rows with ``worklist_position`` (1..),
    ``household_group`` (1.. in order of the household's best rank), ``household_flagged``
    (children of the household on the list) and ``household_not_listed`` (its other children in
    the plan, not on this list).
    """
    if children_of is None:
        children_of = scores.groupby("household_key", sort=False)["person_id"].size()
    flagged = scores[scores["flagged"].to_numpy(dtype=bool)].copy()
    flagged["_in_household"] = flagged["household_key"].map(children_of).to_numpy()
    best = flagged.groupby("household_key", sort=False)["rank"].transform("min")
    flagged["_best"] = best
    flagged = flagged.sort_values(["_best", "rank"], kind="stable")
    flagged["household_group"] = flagged["_best"].rank(method="dense").astype("int64")
    flagged["household_flagged"] = flagged.groupby("household_key", sort=False)["person_id"].transform("size").astype("int64")
    flagged["household_not_listed"] = (flagged["_in_household"] - flagged["household_flagged"]).astype("int64")
    flagged["worklist_position"] = np.arange(1, len(flagged) + 1, dtype="int64")
    return flagged.drop(columns=["_best", "_in_household"])


def household_sizes(person_ids: pd.Series, subscriber_ids: pd.Series) -> pd.Series:
    """The number of children per household_key among ``person_ids`` (each counted once): the
    plan's scored children, for :func:`household_order`."""
    keys = household_keys(person_ids.reset_index(drop=True), subscriber_ids.reset_index(drop=True))
    return keys[~person_ids.reset_index(drop=True).duplicated()].value_counts(sort=False)
