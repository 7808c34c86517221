"""Geometry of the member page's small server-rendered SVG charts (the templates draw them)."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from riskstrat.app.month import Reason

WIDTH, HEIGHT, PAD_LEFT, PAD_RIGHT, PAD_Y = 420, 130, 40, 16, 18
BAR_WIDTH = 160


@dataclass(frozen=True)
class Point:
    x: float
    y: float
    month: str
    score: float
    tier: str
    rank: int | None
    flagged: bool


@dataclass(frozen=True)
class ScoreChart:
    title: str
    points: list[Point]
    months: list[tuple[float, str]]
    top: float

    @property
    def path(self) -> str:
        return " ".join(f"{p.x:.1f},{p.y:.1f}" for p in self.points)


def score_charts(history: pd.DataFrame, titles: dict[str, str]) -> list[ScoreChart]:
    """One chart per list: the child's score in each published month (x: month, y: score)."""
    months = sorted(history["as_of"].unique())
    step = (WIDTH - PAD_LEFT - PAD_RIGHT) / max(len(months) - 1, 1)
    x_of = {m: PAD_LEFT + k * step for k, m in enumerate(months)}
    top = max(float(history["score"].max()) * 1.1, 0.05) if len(history) else 1.0
    charts = []
    for name, part in history.sort_values("as_of").groupby("list", sort=False):
        points = [Point(x_of[r.as_of], PAD_Y + (HEIGHT - 2 * PAD_Y) * (1 - r.score / top), r.as_of, float(r.score),
                        str(r.tier), None if pd.isna(r.rank) else int(r.rank), bool(r.flagged))
                  for r in part.itertuples()]
        charts.append(ScoreChart(titles.get(name, name), points, [(x_of[m], m) for m in months], top))
    return charts


@dataclass(frozen=True)
class Bar:
    text: str
    shap: float
    x: float
    width: float


def reason_bars(reasons: list[Reason]) -> list[Bar]:
    """Horizontal bars around a centre line: right raises the risk, left lowers it."""
    largest = max((abs(r.shap) for r in reasons), default=0) or 1.0
    half = BAR_WIDTH / 2
    bars = []
    for r in reasons:
        width = max(abs(r.shap) / largest * half, 1.0)
        bars.append(Bar(r.text, r.shap, half if r.shap >= 0 else half - width, width))
    return bars
