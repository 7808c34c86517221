"""Suppression: children already served, or who said no recently, are kept off a list.

Only what :data:`SUPPRESSING` declares suppresses: ``enrolled`` while it lasts, ``declined`` and
``unable_to_reach`` for ``scoring.suppress_days`` after their date. A pending ``referred`` does
not, so a referral nobody acted on cannot hide a child; ``discharged`` ends an enrolment.

Which programmes count depends on the list. The general list keeps off a child with such a
status in any programme. A programme's list keeps off a child with such a status in that
programme, and a child enrolled in another programme (they already have a coordinator); a
child who declined another programme may still want this one.
"""

from __future__ import annotations

from datetime import date

import pandas as pd

#: care_management statuses that keep a child off the worklist, and how long (None = while it lasts).
WHILE_IT_LASTS, FOR_SUPPRESS_DAYS = "while it lasts", "for scoring.suppress_days"
#: care_management statuses that keep a child off the worklist: for how long, and the reason's words.
#: A status that lasts (an enrolment) ends when a later status of the same programme replaces it.
SUPPRESSING = {
    "enrolled": (WHILE_IT_LASTS, "enrolled in {program} (since {date})"),
    "declined": (FOR_SUPPRESS_DAYS, "declined {program} on {date}"),
    "unable_to_reach": (FOR_SUPPRESS_DAYS, "could not be reached for {program} on {date}"),
    # only the outreach log records it (riskstrat.outreach.log): the worker found the child does not qualify
    "not_eligible": (FOR_SUPPRESS_DAYS, "found not eligible for {program} on {date}"),
}

_LASTING = tuple(status for status, (how_long, _) in SUPPRESSING.items() if how_long == WHILE_IT_LASTS)
_TIMED = tuple(status for status, (how_long, _) in SUPPRESSING.items() if how_long == FOR_SUPPRESS_DAYS)

# Which status wins when one programme has several on the same day: the most decisive one.
_STATUS_ORDER = {"discharged": 0, "referred": 1, "unable_to_reach": 2, "not_eligible": 3, "declined": 4, "enrolled": 5}


#: How the worklist words a care-management status beside a child still listed (a referral nobody
#: has acted on, an old decline, a programme of which this list is not).
STATUS_WORDS = {**{status: words for status, (_, words) in SUPPRESSING.items()},
                "referred": "referred to {program} on {date}", "discharged": "discharged from {program} on {date}"}


def _latest_statuses(care_management: pd.DataFrame | None, as_of_date: date) -> pd.DataFrame:
    """The latest status per person and programme dated by ``as_of_date`` (person_id, program,
    status, status_date, age_days: its days before ``as_of_date``), the most decisive one where a
    day has several."""
    columns = ["person_id", "program", "status", "status_date"]
    if care_management is None or care_management.empty:
        return pd.DataFrame(columns=[*columns, "age_days"])
    cm = care_management[columns].copy()
    cm["person_id"] = cm["person_id"].astype("string")
    cm["status"] = cm["status"].astype("string").str.lower()
    cm["status_date"] = pd.to_datetime(cm["status_date"]).dt.date
    cm = cm[cm["status_date"].notna() & (cm["status_date"] <= as_of_date)]
    cm["_order"] = cm["status"].map(_STATUS_ORDER).fillna(-1)
    cm = cm.sort_values(["person_id", "program", "status_date", "_order"], kind="stable")
    latest = cm.groupby(["person_id", "program"], sort=False, dropna=False).tail(1).drop(columns="_order")
    return latest.assign(age_days=latest["status_date"].map(lambda d: (as_of_date - d).days))


def _worded(statuses: pd.DataFrame) -> list[str]:
    """Each row's status (status, program, status_date) in :data:`STATUS_WORDS`' words."""
    return [STATUS_WORDS[s].format(program=str(p).replace("_", " "), date=d.isoformat())
            for s, p, d in zip(statuses["status"], statuses["program"], statuses["status_date"], strict=True)]


def status_words(care_management: pd.DataFrame | None, as_of_date: date, recent_days: int) -> dict[str, str]:
    """Each child's most recent care-management status of any programme in words ("referred to
    cares on 2025-10-02"), when it is dated within ``recent_days`` of ``as_of_date`` or still lasts
    (an enrolment): what another coordinator is doing with the family, for the worklist."""
    latest = _latest_statuses(care_management, as_of_date)
    if latest.empty:
        return {}
    recent = (latest["age_days"] <= recent_days) | latest["status"].isin(_LASTING)
    shown = latest[(latest["status"].isin(STATUS_WORDS) & recent).fillna(False).to_numpy(dtype=bool)]
    shown = shown.sort_values(["person_id", "status_date", "program"], ascending=[True, False, True],
                              kind="stable").groupby("person_id", sort=False).head(1)
    return dict(zip(shown["person_id"].astype(str), _worded(shown), strict=True))


def suppression(person_ids, care_management: pd.DataFrame, as_of_date: date, suppress_days: int,
                program: str | None = None) -> pd.DataFrame:
    """Per person: suppressed (bool), suppression (a status of :data:`SUPPRESSING`) and a reason.

    ``care_management`` is the snapshot known at T (person_id, program, status, status_date). Per
    programme the latest status counts, and suppresses as :data:`SUPPRESSING` says: while it lasts,
    or for ``suppress_days`` after its date. Several programmes: a lasting status wins, then the
    most recent. ``program``: the programme whose list this is (its care_management name); the
    other programmes then count only with a lasting status. None: every programme counts.
    """
    out = pd.DataFrame({"person_id": pd.array(person_ids, dtype="string")})
    out["suppressed"] = False
    out["suppression"] = pd.array([None] * len(out), dtype="string")
    out["suppression_reason"] = pd.array([None] * len(out), dtype="string")
    latest = _latest_statuses(care_management, as_of_date)
    if latest.empty:
        return out
    active = latest["status"].isin(_LASTING) | (latest["status"].isin(_TIMED) & (latest["age_days"] <= suppress_days))
    if program is not None:
        active &= (latest["program"] == program) | latest["status"].isin(_LASTING)
    hits = latest[active.fillna(False).to_numpy(dtype=bool)].copy()
    if hits.empty:
        return out
    hits["_lasting"] = hits["status"].isin(_LASTING).astype(int)
    hits = hits.sort_values(["person_id", "_lasting", "status_date", "program"], ascending=[True, False, False, True],
                            kind="stable").groupby("person_id", sort=False).head(1)
    hits["reason"] = _worded(hits)
    by_person = hits.set_index("person_id")
    matched = out["person_id"].isin(by_person.index).to_numpy(dtype=bool)
    keys = out.loc[matched, "person_id"]
    out.loc[matched, "suppressed"] = True
    out.loc[matched, "suppression"] = by_person.loc[keys, "status"].to_numpy()
    out.loc[matched, "suppression_reason"] = by_person.loc[keys, "reason"].to_numpy()
    return out
