"""What the web worklist reads of the published months: the latest month's worklists, and one
child's scores over every month and explanations this month.

The latest month's ``worklists.parquet`` (a few thousand rows) is read once and kept until
``run.json`` changes (a re-publish rewrites it); a child's history is read per request with a
filter on ``person_id``, so a list page never touches ``scores.parquet``, however large it is.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow.compute as pc
import pyarrow.parquet as pq

from riskstrat.config import DEFAULT_SPEC
from riskstrat.core.errors import RiskstratError
from riskstrat.core.workspace import output_dir, output_months
from riskstrat.features import reason_text
from riskstrat.scoring.flags import TIERS

#: worklists.parquet's ``worklist`` of the combined list.
ALL = "all"
#: Shown to supervisors and outreach workers only: an analyst never receives these columns.
CONTACT_COLUMNS = ("first_name", "last_name", "birth_date", "phone", "address", "city", "state", "zip_code")
TIER_ORDER = {name: k for k, (name, _) in enumerate(TIERS)}
HISTORY_COLUMNS = ["as_of", "list", "score", "percentile", "tier", "rank", "flagged"]


class NoPublishedMonth(RiskstratError):
    """There is no published month with worklists to show."""


@dataclass(frozen=True)
class Month:
    as_of: str
    folder: Path
    worklists: pd.DataFrame
    #: list name -> title, in the order the month published them.
    titles: dict[str, str]

    def rows(self, worklist: str) -> pd.DataFrame:
        return self.worklists[self.worklists["worklist"] == worklist]

    def lists_of(self, person_id: str) -> list[str]:
        """The lists (names) the child is on this month."""
        rows = self.worklists[(self.worklists["person_id"] == person_id) & (self.worklists["worklist"] != ALL)]
        return list(dict.fromkeys(rows["worklist"]))


_cache: dict[Path, tuple[tuple[str, int], Month]] = {}
_lock = threading.Lock()


def latest_month(workspace: Path) -> Month:
    """The newest published month's worklists, re-read when its run.json changes."""
    months = output_months(workspace)
    if not months:
        raise NoPublishedMonth(f"{workspace}: no month is published yet (riskstrat score)")
    folder = output_dir(workspace, months[-1])
    path = folder / "worklists.parquet"
    if not path.is_file():
        raise NoPublishedMonth(f"{path}: missing; re-publish {months[-1]} with this version (riskstrat score)")
    key = (months[-1], (folder / "run.json").stat().st_mtime_ns)
    with _lock:
        cached = _cache.get(Path(workspace))
        if cached is not None and cached[0] == key:
            return cached[1]
    frame = pq.read_table(path).to_pandas()
    listed = frame[frame["worklist"] != ALL]
    titles = dict(zip(listed["worklist"], listed["list"]))
    month = Month(months[-1], folder, frame, titles)
    with _lock:
        _cache[Path(workspace)] = (key, month)
    return month


def score_history(workspace: Path, person_id: str) -> pd.DataFrame:
    """The child's score, tier and rank on each list in every published month (:data:`HISTORY_COLUMNS`)."""
    parts = []
    for month in output_months(workspace):
        path = output_dir(workspace, month) / "scores.parquet"
        wanted = [c for c in HISTORY_COLUMNS if c in pq.read_schema(path).names]
        table = pq.read_table(path, columns=wanted, filters=pc.field("person_id") == person_id)
        part = table.to_pandas()
        if "list" not in part:  # a month published before there were several lists: the general list
            part = part.assign(list=DEFAULT_SPEC)
        parts.append(part)
    parts = [p for p in parts if not p.empty]
    if not parts:
        return pd.DataFrame(columns=HISTORY_COLUMNS)
    return pd.concat(parts, ignore_index=True)[HISTORY_COLUMNS]


@dataclass(frozen=True)
class Reason:
    text: str
    shap: float


def explanations(month: Month, person_id: str, top: int = 8) -> dict[str, list[Reason]]:
    """Per list, the child's largest SHAP contributions with their plain-language reasons."""
    path = month.folder / "explanations.parquet"
    if not path.is_file():
        return {}
    frame = pq.read_table(path, filters=pc.field("person_id") == person_id).to_pandas()
    out: dict[str, list[Reason]] = {}
    for name, part in frame.groupby("list", sort=False):
        part = part[part["shap_value"] != 0]
        part = part.reindex(part["shap_value"].abs().sort_values(ascending=False).index).head(top)
        out[str(name)] = [Reason(reason_text(r.feature, r.feature_value), float(r.shap_value))
                          for r in part.itertuples()]
    return out
