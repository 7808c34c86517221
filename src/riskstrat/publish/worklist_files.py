"""The worklist as CSV and XLSX, safe to open in Excel.

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
from pathlib import Path

import numpy as np
import pandas as pd
import xlsxwriter

from riskstrat.core.months import month_end

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
    "position": "#", "rank": "Rank", "household_group": "Family", "new_or_continuing": "New / continuing",
    "person_id": "Person ID", "member_id": "Member ID", "household_id": "Household (case) ID",
    "first_name": "First name", "last_name": "Last name", "birth_date": "Date of birth", "age": "Age",
    "phone": "Phone", "address": "Address", "city": "City", "state": "State", "zip_code": "ZIP",
    "score_band": "Risk band", "program_match": "Program match", "program_reason": "Why this program",
    "top_reasons": "Top reasons", "last_ed_visit": "Last ED visit", "care_gaps": "Care gaps",
    "other_children_in_household": "Other children in household (not listed)",
}

_WIDTHS = {"top_reasons": 70, "program_reason": 50, "care_gaps": 40, "address": 28, "program_match": 22}


def write_worklist_xlsx(worklist: pd.DataFrame, path: Path, as_of: str) -> None:
    """One sheet, header frozen, filters on; every text written with ``write_string``."""
    workbook = xlsxwriter.Workbook(str(path), {
        "strings_to_formulas": False, "strings_to_numbers": False, "strings_to_urls": False, "in_memory": True,
    })
    # A fixed document date (the month scored) keeps the bytes the same on a rerun.
    stamp = dt.datetime.combine(month_end(as_of), dt.time())
    workbook.set_properties({"title": f"riskstrat worklist {as_of}", "author": "riskstrat", "created": stamp})
    sheet = workbook.add_worksheet("worklist")
    header = workbook.add_format({"bold": True, "text_wrap": True, "valign": "top", "bg_color": "#DDEBF7"})
    wrap = workbook.add_format({"text_wrap": True, "valign": "top"})
    columns = list(worklist.columns)
    for j, name in enumerate(columns):
        sheet.write_string(0, j, _HEADERS.get(name, name), header)
        sheet.set_column(j, j, _WIDTHS.get(name, 14), wrap if name in _WIDTHS else None)
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
