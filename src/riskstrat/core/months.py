"""Months, the unit every table, window and model is keyed by: ``YYYY-MM`` strings throughout.

The lake partitions, the outputs folders and the study design all name months as ``YYYY-MM``,
so the library does too; these functions are the only place that turns them into numbers or
dates.
"""

from __future__ import annotations

import calendar
import re
from datetime import date

import numpy as np
import pandas as pd

from riskstrat.core.errors import RiskstratError

MONTH_PATTERN = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


class MonthError(RiskstratError):
    """A value that should be a ``YYYY-MM`` month is not one; the message names what it was for."""


def is_month(value: object) -> bool:
    """Whether ``value`` is a ``YYYY-MM`` month."""
    return isinstance(value, str) and bool(MONTH_PATTERN.match(value))


def check_month(value: object, what: str = "month") -> str:
    """Return ``value`` if it is a ``YYYY-MM`` month, else raise :class:`MonthError` naming ``what``."""
    if not is_month(value):
        raise MonthError(f"{what}: {value!r} is not a month in YYYY-MM form")
    return value


def month_index(month: str) -> int:
    """Months since year 0, so that month arithmetic is integer arithmetic."""
    return int(month[:4]) * 12 + int(month[5:7]) - 1


def month_numbers(months: pd.Series) -> np.ndarray:
    """:func:`month_index` of a whole column of YYYY-MM months, for month arithmetic on columns."""
    months = months.astype("string")
    return months.str.slice(0, 4).astype(int).to_numpy() * 12 + months.str.slice(5, 7).astype(int).to_numpy() - 1


def add_months(month: str, k: int) -> str:
    """``month`` shifted by ``k`` months (negative goes back): ``add_months("2025-01", -1) == "2024-12"``."""
    index = month_index(month) + k
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def months_apart(earlier: str, later: str) -> int:
    """``later - earlier`` in whole months (negative when ``later`` is earlier)."""
    return month_index(later) - month_index(earlier)


def months_between(first: str, last: str) -> list[str]:
    """Every month from ``first`` to ``last`` inclusive (empty if ``last`` is before ``first``)."""
    return [add_months(first, k) for k in range(months_apart(first, last) + 1)]


def last_matured_month(latest_delivery: str, horizon_months: int, runout_months: int) -> str:
    """The latest as-of month whose outcome window (the ``horizon_months`` after it) and claims run-out
    (``runout_months`` more) are covered by the deliveries through ``latest_delivery``."""
    return add_months(latest_delivery, -(horizon_months + runout_months))


def month_of(values: pd.Series) -> pd.Series:
    """Dates, periods or ``YYYY-MM...`` strings as ``YYYY-MM`` months."""
    if pd.api.types.is_datetime64_any_dtype(values) or isinstance(values.dtype, pd.PeriodDtype):
        return values.dt.strftime("%Y-%m")
    return values.astype("string").str.slice(0, 7)


def month_start(month: str) -> date:
    """The first day of a month."""
    return date(int(month[:4]), int(month[5:7]), 1)


def month_end(month: str) -> date:
    """The last day of a month: the as-of date of everything computed for it."""
    year, mon = int(month[:4]), int(month[5:7])
    return date(year, mon, calendar.monthrange(year, mon)[1])
