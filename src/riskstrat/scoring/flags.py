"""Ranks, tiers and flags: who goes on the worklist this month.

- **Ranks** follow the one ranking rule (:mod:`riskstrat.core.ranking`): score, then person_id,
  so the same inputs always give the same ranks.
- **Tiers** are by position in the month's ranking (:data:`TIERS`: top 1%, 5%, 20%), not by
  probability, so a band means the same share of children every month.
- **Suppressed children do not use capacity.** Capacity is the new outreach a team can take on;
  a child already served (:mod:`riskstrat.scoring.suppression`) stays in scores.parquet with the
  reason, and the next child takes the slot.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from riskstrat.core.errors import RiskstratError
from riskstrat.core.ranking import pick_top, rank_order

#: Tiers by how far up the month's ranking a child is: (name, top share of children in percent),
#: highest first. A child is in the first tier whose share exceeds the share of children scoring
#: strictly higher than them, so "very high" is the top 1%, "high" the rest of the top 5%, ...
TIERS: tuple[tuple[str, float], ...] = (("very high", 1.0), ("high", 5.0), ("elevated", 20.0), ("standard", 100.0))


class ScoringError(RiskstratError):
    """Scoring cannot run; the message names the file, month or rule (never a member)."""


def tier_of(percentile: np.ndarray | pd.Series) -> np.ndarray:
    """The tier name for each percentile (100 minus the percent of children scoring higher; see :data:`TIERS`)."""
    above = 100.0 - np.asarray(percentile, dtype=float)
    out = np.full(above.shape, TIERS[-1][0], dtype=object)
    for name, share in reversed(TIERS):
        out[above < share] = name
    return out


def rank_scores(person_ids, scores) -> pd.DataFrame:
    """person_id, score, rank (1 = highest; ties by person_id), percentile (100 minus the percent of
    children scoring strictly higher: 100 for the top child, ties share it) and tier, sorted by rank.

    ``_row`` is each child's position in the input, so callers can align without looking ids up.
    """
    frame = pd.DataFrame({"person_id": pd.array(person_ids, dtype="string"), "score": np.asarray(scores, dtype=float),
                          "_row": np.arange(len(scores))})
    if frame["person_id"].duplicated().any():
        raise ScoringError("the feature frame has more than one row for a person; expected one row per child")
    if frame["score"].isna().any():
        raise ScoringError("the model gave no score for some children (NaN); check the feature frame")
    frame = frame.iloc[rank_order(frame["score"], frame["person_id"])].reset_index(drop=True)
    n = len(frame)
    frame["rank"] = np.arange(1, n + 1, dtype="int64")
    above = frame["score"].rank(method="min", ascending=False).to_numpy() - 1
    frame["percentile"] = np.round(100.0 * (1.0 - above / max(n, 1)), 4)
    frame["tier"] = pd.array(tier_of(frame["percentile"]), dtype="string")
    return frame


def select_flags(ranked: pd.DataFrame, capacity: int, threshold: float | None = None) -> pd.Series:
    """Which children go on the worklist, and why: "capacity" (the best ``capacity`` children not
    suppressed) or "threshold" (any other child not suppressed scoring at or above it); else null.

    ``ranked`` has person_id, score and suppressed columns; suppressed children never use capacity.
    """
    eligible = ~ranked["suppressed"].to_numpy(dtype=bool)
    # the ranks already are the rank order: no need to sort every child's id again
    order = np.argsort(ranked["rank"].to_numpy(), kind="stable")
    take = pick_top(ranked["score"], ranked["person_id"], capacity, eligible=eligible, order=order)
    why = np.full(len(ranked), None, dtype=object)
    if threshold is not None:
        why[eligible & (ranked["score"].to_numpy(dtype=float) >= threshold)] = "threshold"
    why[take] = "capacity"
    return pd.Series(pd.array(why, dtype="string"), index=ranked.index, name="flag_reason")
