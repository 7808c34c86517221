"""This month's lists as each user may see them: tabs, filters, sort, outreach status, aggregates.

Everything here is decided on the server: an outreach worker's rows are cut to their programmes'
lists and an analyst's frame loses the contact columns before anything is rendered or exported.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import pandas as pd
from sqlalchemy.engine import Engine

from riskstrat.app.month import ALL, CONTACT_COLUMNS, TIER_ORDER, Month
from riskstrat.outreach.accounts import User
from riskstrat.outreach.log import OUTCOMES, effective_attempts, latest_per_child
from riskstrat.scoring.worklist import WORKLIST_COLUMNS

NO_ATTEMPT = "none"
STATUSES = (NO_ATTEMPT, *OUTCOMES)
AGE_BANDS = {"0-4": (0, 4), "5-11": (5, 11), "12-17": (12, 17), "18-20": (18, 20)}
#: sort key -> (columns, ascending); every sort ends on the list's own position, so ties keep its order.
SORTS = {
    "position": (["position"], [True]),
    "rank": (["rank", "position"], [True, True]),
    "age": (["age", "position"], [True, True]),
    "tier": (["_tier", "position"], [True, True]),
    "last_name": (["_last_name", "position"], [True, True]),
    "last_ed_visit": (["last_ed_visit", "position"], [False, True]),
}
CONTACT_SORTS = ("last_name",)


@dataclass(frozen=True)
class Filters:
    """The list page's query string; unknown values fall back to "everything"."""
    tab: str = ALL
    tier: str = ""
    status: str = ""
    new_or_continuing: str = ""
    place: str = ""
    age: str = ""
    sort: str = "position"

    @classmethod
    def from_query(cls, query, user: User, month: Month) -> "Filters":
        """The filters asked for; a tab the user may not open is "all", a sort they may not use is by position."""
        values = {f.name: str(query.get(f.name, "") or "").strip()[:64] for f in fields(cls)}
        if values["tab"] not in dict(tabs(user, month)):
            values["tab"] = ALL
        if values["sort"] not in SORTS or (values["sort"] in CONTACT_SORTS and not user.sees_contacts):
            values["sort"] = "position"
        if not user.sees_contacts:  # filtering by city or ZIP would reveal them
            values["place"] = ""
        return cls(**values)

    def query(self) -> dict[str, str]:
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name)}


def tabs(user: User, month: Month) -> list[tuple[str, str]]:
    """(name, title) of the worklists the user may open: "all" first, then each of their programmes."""
    return [(ALL, "All lists")] + [(name, title) for name, title in month.titles.items() if user.may_see_program(name)]


def visible_people(user: User, month: Month) -> set[str] | None:
    """The children the user may see (None: all of them): those on one of their programmes' lists."""
    if user.all_programs:
        return None
    rows = month.worklists[month.worklists["worklist"].isin(user.programs)]
    return set(rows["person_id"])


def may_see_member(user: User, month: Month, person_id: str) -> bool:
    """Whether the child is on a list of a programme ``user`` works (every list for supervisors and analysts)."""
    visible = visible_people(user, month)
    return visible is None or person_id in visible


def own_lists(month: Month, user: User) -> pd.DataFrame:
    """An outreach worker's "All lists": each child of their programmes' lists once, with the row
    (rank, band, reasons) of the list where the child placed best, and only those lists named. The
    month's combined list would show another programme's rank and reasons when the child placed
    better there."""
    frame = month.worklists[month.worklists["worklist"].isin(user.programs)]
    frame = frame.sort_values(["position", "worklist"], kind="stable")
    names = frame.groupby("person_id", sort=False)["worklist"].agg(lambda w: " + ".join(
        month.titles[n] for n in month.titles if n in set(w)))
    best = frame.drop_duplicates("person_id")
    return best.assign(lists=best["person_id"].map(names))


def outreach_status(engine: Engine, tab: str, programs: tuple[str, ...] | None = None) -> dict[str, str]:
    """Each child's latest outcome that counts: in the tab's programme, or on "all" in any programme
    (of ``programs`` only, when given: an outreach worker learns nothing of programmes they do not work)."""
    latest = latest_per_child(effective_attempts(engine), [tab] if tab != ALL else programs)
    return dict(zip(latest["person_id"], latest["outcome"]))


def without_contacts(frame: pd.DataFrame, user: User) -> pd.DataFrame:
    """``frame`` without names, birth date, phone and address for a role that must not see them (analysts),
    removed on the server so no page, fragment or export can carry them."""
    return frame if user.sees_contacts else frame.drop(columns=[c for c in CONTACT_COLUMNS if c in frame.columns])


def rows(month: Month, engine: Engine, user: User, filters: Filters) -> pd.DataFrame:
    """The tab's rows the user may see, filtered and sorted, with ``status`` (live from the log);
    without contact columns for a user who may not see them."""
    tab = filters.tab
    frame = month.rows(tab) if tab != ALL or user.all_programs else own_lists(month, user)
    status = outreach_status(engine, tab, None if user.all_programs else user.programs)
    frame = frame.assign(status=frame["person_id"].map(status).fillna(NO_ATTEMPT).astype(str))
    keep = pd.Series(True, index=frame.index)
    if filters.tier:
        keep &= frame["score_band"] == filters.tier
    if filters.new_or_continuing:
        keep &= frame["new_or_continuing"] == filters.new_or_continuing
    if filters.status in STATUSES:
        keep &= frame["status"] == filters.status
    if filters.place:
        place = filters.place.lower()
        keep &= (frame["city"].fillna("").str.lower().str.contains(place, regex=False)
                 | frame["zip_code"].fillna("").str.startswith(filters.place))
    if filters.age in AGE_BANDS:
        low, high = AGE_BANDS[filters.age]
        keep &= frame["age"].between(low, high)
    frame = frame[keep]
    columns, ascending = SORTS[filters.sort]
    frame = frame.assign(_tier=frame["score_band"].map(TIER_ORDER), _last_name=frame["last_name"].str.lower())
    frame = frame.sort_values(columns, ascending=ascending, kind="stable", na_position="last")
    return without_contacts(frame.drop(columns=["_tier", "_last_name"]), user)


def export_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """The worklist file's columns (those the user may see) and the live outreach status."""
    columns = [c for c in WORKLIST_COLUMNS if c in frame.columns]
    return frame[columns].assign(outreach=frame["status"].map(lambda s: OUTCOMES[s][0] if s in OUTCOMES else ""))


def aggregates(month: Month, engine: Engine) -> pd.DataFrame:
    """Children per programme x tier x new/continuing x outreach status (no child-level rows)."""
    parts = []
    for name, title in month.titles.items():
        frame = month.rows(name)
        status = outreach_status(engine, name)
        parts.append(pd.DataFrame({
            "programme": title, "tier": frame["score_band"], "new_or_continuing": frame["new_or_continuing"],
            "status": frame["person_id"].map(status).fillna(NO_ATTEMPT)}))
    if not parts:
        return pd.DataFrame(columns=["programme", "tier", "new_or_continuing", "status", "children"])
    stacked = pd.concat(parts, ignore_index=True)
    counts = stacked.groupby(["programme", "tier", "new_or_continuing", "status"], sort=False).size()
    counts = counts.rename("children").reset_index()
    counts["_tier"] = counts["tier"].map(TIER_ORDER)
    return counts.sort_values(["programme", "_tier", "new_or_continuing", "status"], kind="stable").drop(columns="_tier")
