"""The one ranking rule and the one capacity pick, used by scoring, evaluation and the audit.

Children are ranked by score, highest first; equal scores are ordered by ``person_id``, so the
same inputs always give the same list. The capacity pick takes the best ``capacity`` children in
that order (in each month, when rows span several), as the outreach team would: the flags of
the worklist, the flags the fairness audit judges and the flags the backtest counts are the same
children.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def rank_order(score, person_ids) -> np.ndarray:
    """Row positions from best to worst: score descending, then ``person_id`` ascending."""
    frame = pd.DataFrame({"score": np.asarray(score, dtype=float),
                          "person_id": pd.array(np.asarray(person_ids, dtype=object), dtype="string")})
    return frame.sort_values(["score", "person_id"], ascending=[False, True], kind="stable").index.to_numpy()


def pick_top(score, person_ids, capacity: int, *, groups=None, eligible=None, order=None) -> np.ndarray:
    """True for the best ``capacity`` eligible rows of each group (all rows are one group by default).

    ``eligible`` (a boolean mask) leaves rows out of the pick without using capacity, such as
    children already served. A group with fewer eligible rows than the capacity has all of them picked.
    ``order`` is the rows' :func:`rank_order` when the caller already has it: sorting the ids is
    most of the cost, and several picks over the same scores need it once.
    """
    score = np.asarray(score, dtype=float)
    n = len(score)
    order = rank_order(score, person_ids) if order is None else np.asarray(order)
    ok = np.ones(n, dtype=bool) if eligible is None else np.asarray(eligible, dtype=bool)
    group = np.zeros(n, dtype=np.int64) if groups is None else pd.factorize(np.asarray(groups, dtype=object))[0]
    in_order = pd.Series(group[order])[ok[order]]
    taken = in_order.groupby(in_order.to_numpy()).cumcount().to_numpy() < capacity
    picked = np.zeros(n, dtype=bool)
    picked[order[ok[order]][taken]] = True
    return picked
