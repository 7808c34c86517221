"""The worklist: the flagged children, best first, with what an outreach worker needs to call a family."""

from __future__ import annotations

import numpy as np
import pandas as pd

from riskstrat.features import FEATURES, reason_text

#: The worklist's columns, in order: what an outreach worker needs to call a family, nothing more.
WORKLIST_COLUMNS = [
    "position", "rank", "household_group", "new_or_continuing", "person_id", "member_id", "household_id",
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
                   features: pd.DataFrame) -> pd.DataFrame:
    """The worklist's rows (:data:`WORKLIST_COLUMNS`) for the flagged children in household order.

    ``members`` is indexed by person_id (contact details), ``last_ed`` has person_id and
    last_ed_visit, ``features`` is the feature table's rows of the same children in the same order.
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
    prev = flagged["flagged_last_month"]
    status = np.where(prev.fillna(False).to_numpy(dtype=bool), "continuing", "new")
    wl = pd.DataFrame({
        "position": flagged["worklist_position"].to_numpy(),
        "rank": flagged["rank"].to_numpy(),
        "household_group": flagged["household_group"].to_numpy(),
        "new_or_continuing": status,
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
