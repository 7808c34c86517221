"""Worklists: the flagged children, best first, with what an outreach worker needs to call a family.

Each list has its own worklist (:func:`build_worklist`); the combined worklist
(:func:`combine_worklists`) names each child flagged on any list once. Every worklist has the
same columns (:data:`WORKLIST_COLUMNS`): ``list`` is the list whose rank, band and reasons the
row shows, ``lists`` every list that flagged the child this month.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from riskstrat.features import FEATURES, reason_text
from riskstrat.scoring.households import household_keys, household_order

#: The worklist's columns, in order: what an outreach worker needs to call a family, nothing more.
WORKLIST_COLUMNS = [
    "position", "list", "lists", "rank", "household_group", "new_or_continuing", "outreach", "person_id", "member_id", "household_id",
    "first_name", "last_name", "birth_date", "age", "phone", "address", "city", "state", "zip_code",
    "score_band", "program_match", "program_reason", "top_reasons", "last_ed_visit", "care_gaps",
    "other_children_in_household",
]


def care_gaps(features: pd.DataFrame) -> list[str]:
    """The care gaps of each child, worded from the declared care-gap features that are set."""
    out = [[] for _ in range(len(features))]
    for f in FEATURES:
        if f.family != "care_gaps" or f.name not in features.columns:
            continue
        values = pd.to_numeric(features[f.name], errors="coerce").to_numpy(dtype=float)
        for i in np.flatnonzero(values >= 0.5):
            out[i].append(reason_text(f.name, values[i]))
    return ["; ".join(gaps) for gaps in out]


def build_worklist(flagged: pd.DataFrame, members: pd.DataFrame, last_ed: pd.DataFrame | None,
                   features: pd.DataFrame, title: str, outreach: dict[str, str] | None = None) -> pd.DataFrame:
    """The worklist's rows (:data:`WORKLIST_COLUMNS`) of list ``title`` for its flagged children in household order.

    ``members`` is indexed by person_id (contact details), ``last_ed`` has person_id and
    last_ed_visit, ``features`` is the feature table's rows of the same children in the same order.
    A child is "continuing" when flagged on this list last month or in outreach for it
    (``flagged_last_month``, ``in_outreach``); ``outreach`` words each child's latest outreach outcome.
    ``lists`` names this list only; the month names every list that flagged each child once all
    are scored.
    """
    def contact(name: str) -> list:
        if name not in members.columns:
            return [None] * len(flagged)
        col = members[name]
        return [None if pd.isna(v) else str(v) for v in col.reindex(flagged["person_id"]).tolist()]

    if last_ed is not None and not last_ed.empty:
        ed = last_ed.assign(person_id=last_ed["person_id"].astype("string")).set_index("person_id")["last_ed_visit"]
        ed_dates = [None if pd.isna(v) else pd.Timestamp(v).date().isoformat() for v in ed.reindex(flagged["person_id"])]
    else:
        ed_dates = [None] * len(flagged)
    known = flagged["flagged_last_month"].fillna(False).to_numpy(dtype=bool) | flagged["in_outreach"].to_numpy(dtype=bool)
    status = np.where(known, "continuing", "new")
    outreach = outreach or {}
    wl = pd.DataFrame({
        "position": flagged["worklist_position"].to_numpy(),
        "list": title,
        "lists": title,
        "rank": flagged["rank"].to_numpy(),
        "household_group": flagged["household_group"].to_numpy(),
        "new_or_continuing": status,
        "outreach": [outreach.get(str(p)) for p in flagged["person_id"]],
        "person_id": flagged["person_id"].astype(str).to_numpy(),
        "member_id": flagged["member_id"].to_numpy(dtype=object),
        "household_id": flagged["household_id"].to_numpy(dtype=object),
        "first_name": contact("first_name"),
        "last_name": contact("last_name"),
        "birth_date": [None if v is None else v[:10] for v in contact("birth_date")],
        "age": flagged["age"].to_numpy(dtype=object),
        "phone": contact("phone"),
        "address": contact("address"),
        "city": contact("city"),
        "state": contact("state"),
        "zip_code": contact("zip_code"),
        "score_band": flagged["tier"].astype(str).to_numpy(),
        "program_match": flagged["program_match"].astype(str).to_numpy(),
        "program_reason": flagged["program_reason"].to_numpy(dtype=object),
        "top_reasons": ["; ".join(r or []) for r in flagged["top_reasons"]],
        "last_ed_visit": ed_dates,
        "care_gaps": care_gaps(features),
        "other_children_in_household": flagged["household_not_listed"].to_numpy(),
    })
    wl = wl.replace({pd.NA: None})
    return wl[WORKLIST_COLUMNS]


def combine_worklists(worklists: Sequence[pd.DataFrame], scored: pd.DataFrame, flagged_before: np.ndarray | None,
                      in_outreach: set[str] = frozenset(), outreach: dict[str, str] | None = None) -> pd.DataFrame:
    """The combined worklist: each child flagged on any list once, the row of the list where they
    placed best, siblings together.

    ``worklists`` are the lists' worklists in specification order, ``lists`` already naming every
    list that flagged each child. A child's place is their best position on any list (ties: the
    earlier list, then person_id); a family is placed by its best-placed child. ``scored``
    (person_id, household_id) holds every child scored this month, so "other children in
    household" counts them. ``flagged_before``: the children flagged on any list last month (None
    when it was not published) and those ``in_outreach`` for any programme are "continuing", as an
    outreach team already knows them; ``outreach`` words each child's latest outcome in any programme.
    """
    stacked = pd.concat([wl.assign(_list_order=k) for k, wl in enumerate(worklists)], ignore_index=True)
    best = stacked.sort_values(["position", "_list_order", "person_id"], kind="stable").drop_duplicates("person_id")
    best = best.set_index(best["person_id"].astype(object))
    everyone = scored.drop_duplicates("person_id")
    ids = everyone["person_id"].to_numpy(dtype=object)
    place = pd.Series(np.arange(1, len(best) + 1), index=best.index).reindex(ids).to_numpy()
    flagged = ~np.isnan(place)
    order = household_order(pd.DataFrame({
        "person_id": ids,
        "household_key": household_keys(everyone["person_id"].astype("string"), everyone["household_id"]).to_numpy(),
        "rank": np.where(flagged, place, len(best) + 1),
        "flagged": flagged,
    }))
    out = best.loc[order["person_id"].to_numpy()].reset_index(drop=True)
    out["position"] = order["worklist_position"].to_numpy()
    out["household_group"] = order["household_group"].to_numpy()
    out["other_children_in_household"] = order["household_not_listed"].to_numpy()
    before = np.asarray([] if flagged_before is None else flagged_before, dtype=object)
    known = out["person_id"].isin(before).to_numpy() | out["person_id"].isin(list(in_outreach)).to_numpy()
    out["new_or_continuing"] = np.where(known, "continuing", "new")
    out["outreach"] = [(outreach or {}).get(str(p)) for p in out["person_id"]]
    return out[WORKLIST_COLUMNS]
