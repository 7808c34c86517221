"""What an evaluation found (:class:`Evaluation`): what the recipe returns and the report draws."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from riskstrat.config import Settings
from riskstrat.evaluation.cohort import ScoreSource


@dataclass
class Evaluation:
    """What an evaluation found: the tables of the report and the files' contents."""

    program: str
    first: str
    last: str
    spec: str
    windows: list[int]
    unobservable: list[int]
    effects: pd.DataFrame
    balance: pd.DataFrame
    cohort: pd.DataFrame
    attrition: list[tuple[str, int]]
    events: dict[str, pd.DataFrame]
    sources: list[ScoreSource]
    settings: Settings
    lake_through: str
    folder: Path | None = None
    counts: dict = field(default_factory=dict)
