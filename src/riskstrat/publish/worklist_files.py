"""The worklists as CSV and XLSX, safe to open in Excel.

One CSV per worklist (the combined list and each list's own); one XLSX with a sheet per worklist,
the combined list first.

Spreadsheet safety: every text cell whose first non-blank character is ``= + - @``, a tab or a
carriage return is prefixed with ``'`` in both the CSV and the XLSX, so a name like
``=HYPERLINK(...)`` is shown, never run; the XLSX is written with ``write_string`` and
xlsxwriter's string conversions off, so no cell becomes a formula, number or link. The XLSX's
document date is the last day of the month scored, so a rerun gives the same bytes.
"""

from __future__ import annotations

import csv
import datetime as dt
import math
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import xlsxwriter

from riskstrat.core.months import month_end

#: The combined list's sheet, the workbook's first.
ALL_LISTS = "All lists"

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value):
    """A text cell a spreadsheet could run as a formula, made inert with a leading ``'``; other values as is."""
    if isinstance(value, str) and value and (value[0] in _FORMULA_START or value.lstrip(" ")[:1] in _FORMULA_START):
        return "'" + value
    return value


def _cell(value):
    """None for missing, plain Python numbers, everything else as text."""
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value)
    return str(value)


def write_worklist_csv(worklist: pd.DataFrame, path: Path) -> None:
    """UTF-8 with a byte-order mark (so Excel reads accents), every text cell neutralised."""
    with open(path, "w", encoding="utf-8-sig", newline="") as fh:
        writer = csv.writer(fh, quoting=csv.QUOTE_MINIMAL, lineterminator="\r\n")
        writer.writerow(list(worklist.columns))
        for row in worklist.itertuples(index=False, name=None):
            writer.writerow(["" if (c := _cell(v)) is None else neutralise(c) for v in row])


_HEADERS = {
    "position": "#", "list": "List (rank, band and reasons)", "lists": "On lists", "rank": "Rank", "household_group": "Family", "new_or_continuing": "New / continuing",
    "outreach": "Latest outreach",
    "person_id": "Person ID", "member_id": "Member ID", "household_id": "Household (case) ID",
    "first_name": "First name", "last_name": "Last name", "birth_date": "Date of birth", "age": "Age",
    "phone": "Phone", "address": "Address", "city": "City", "state": "State", "zip_code": "ZIP",
    "score_band": "Risk band", "program_match": "Program match", "program_reason": "Why this program",
    "top_reasons": "Top reasons", "last_ed_visit": "Last ED visit", "care_gaps": "Care gaps",
    "other_children_in_household": "Other children in household (not on this list)",
}

_WIDTHS = {"outreach": 28, "top_reasons": 70, "program_reason": 50, "care_gaps": 40, "address": 28, "program_match": 22,
           "list": 22, "lists": 30}

# Excel refuses these in a sheet name (and control characters), an apostrophe at either end, more
# than 31 characters, two names equal but for case, and "History" (its own).
_NOT_IN_SHEET_NAME = re.compile(r"[\[\]:*?/\\\x00-\x1f]")
_SHEET_NAME_LENGTH = 31


def sheet_names(titles: Sequence[str]) -> list[str]:
    """A sheet name Excel accepts for each title, unique, in order: forbidden characters become
    "-", long titles are cut, a repeated name gets " (2)", " (3)", ..."""
    names: list[str] = []
    taken = {"history"}
    for title in titles:
        base = _NOT_IN_SHEET_NAME.sub("-", str(title)).strip().strip("'")[:_SHEET_NAME_LENGTH].strip() or "list"
        name, k = base, 2
        while name.casefold() in taken:
            suffix = f" ({k})"
            name, k = base[:_SHEET_NAME_LENGTH - len(suffix)] + suffix, k + 1
        taken.add(name.casefold())
        names.append(name)
    return names


def write_worklist_xlsx(sheets: Sequence[tuple[str, pd.DataFrame]], path: Path, as_of: str) -> None:
    """One sheet per (title, worklist), in order (:func:`sheet_names`), header frozen, filters on;
    every text written with ``write_string``."""
    workbook = xlsxwriter.Workbook(str(path), {
        "strings_to_formulas": False, "strings_to_numbers": False, "strings_to_urls": False, "in_memory": True,
    })
    # A fixed document date (the month scored) keeps the bytes the same on a rerun.
    stamp = dt.datetime.combine(month_end(as_of), dt.time())
    workbook.set_properties({"title": f"riskstrat worklists {as_of}", "author": "riskstrat", "created": stamp})
    header = workbook.add_format({"bold": True, "text_wrap": True, "valign": "top", "bg_color": "#DDEBF7"})
    wrap = workbook.add_format({"text_wrap": True, "valign": "top"})
    for name, (_, worklist) in zip(sheet_names([t for t, _ in sheets]), sheets, strict=True):
        sheet = workbook.add_worksheet(name)
        columns = list(worklist.columns)
        for j, column in enumerate(columns):
            sheet.write_string(0, j, _HEADERS.get(column, column), header)
            sheet.set_column(j, j, _WIDTHS.get(column, 14), wrap if column in _WIDTHS else None)
        for i, row in enumerate(worklist.itertuples(index=False, name=None), start=1):
            for j, value in enumerate(row):
                cell = _cell(value)
                if cell is None:
                    continue
                if isinstance(cell, (int, float)):
                    sheet.write_number(i, j, cell)
                else:
                    sheet.write_string(i, j, neutralise(cell))
        sheet.freeze_panes(1, 0)
        if len(worklist):
            sheet.autofilter(0, 0, len(worklist), len(columns) - 1)
    workbook.close()
