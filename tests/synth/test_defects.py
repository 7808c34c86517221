"""Every defect listed in truth/defects.parquet is really in the file, at that row, of that kind."""

from __future__ import annotations

import datetime as dt
import re

import pyarrow.parquet as pq
import pytest
import simple_icd_10_cm as icd

KINDS = {"invalid_icd", "truncated_icd", "impossible_date", "negative_paid", "duplicate_line", "unknown_person",
         "malformed_number", "missing_required", "bad_npi", "bad_ndc", "bad_enum", "resent_rows"}


@pytest.fixture(scope="module")
def files(sf, defect_plan):
    out = {}
    for folder in sorted((defect_plan / "landing").iterdir()):
        for t in sf.TABLES:
            f = sf.find_file(folder, t)
            header, rows, _ = sf.read_rows(f)
            out[(folder.name, t)] = (f.name, rows)
    return out


@pytest.fixture(scope="module")
def defects(defect_plan):
    return pq.read_table(defect_plan / "truth" / "defects.parquet").to_pylist()


def _month_end(label: str) -> str:
    y, m = map(int, label.split("-"))
    return str(dt.date(y + m // 12, m % 12 + 1, 1) - dt.timedelta(days=1))


def _shows(sf, kind, table, col, row, rows, i, month, prev_rows, persons) -> bool:
    v = row.get(col) if col else None
    if kind == "invalid_icd":
        return v is not None and not icd.is_valid_item(v)
    if kind == "truncated_icd":
        return v is not None and len(v) == 3 and icd.is_valid_item(v) and not icd.is_leaf(v)
    if kind == "impossible_date":
        end = _month_end(month)
        if table == "medical_claim":
            return row["claim_end_date"] < row["claim_start_date"] or row["paid_date"] < row["claim_start_date"]
        if table == "pharmacy_claim":
            return row["paid_date"] < row["dispensing_date"]
        if table == "ed_visit":
            return row["discharge_datetime"] < row["arrival_datetime"]
        if table == "eligibility":
            return row["birth_date"] > row["enrollment_start_date"] or row["birth_date"] > end
        return v > end
    if kind == "negative_paid":
        return row["claim_status"] == "paid" and float(row["paid_amount"]) < 0
    if kind == "duplicate_line":
        return sf.norm(row) in {sf.norm(r) for r in rows[: i - 1]}
    if kind == "resent_rows":
        return sf.norm(row) in {sf.norm(r) for r in prev_rows}
    if kind == "unknown_person":
        return v is not None and v not in persons
    if kind == "malformed_number":
        return v is not None and not sf.number_ok(v)
    if kind == "missing_required":
        return v is None
    if kind == "bad_npi":
        return v is not None and re.fullmatch(r"\d{10}", v) and not sf.npi_ok(v)
    if kind == "bad_ndc":
        return v is not None and not re.fullmatch(r"\d{11}", v)
    if kind == "bad_enum":
        return v is not None and v not in sf.ENUMS[(table, col)]
    raise AssertionError(kind)


def test_every_listed_defect_is_in_its_file(sf, files, defects):
    assert defects, "a defect rate above 0 injects defects"
    months = sorted({m for m, _ in files})
    persons = {r["person_id"] for (m, t), (_, rows) in files.items() if t == "eligibility" for r in rows}
    for d in defects:
        name, rows = files[(d["delivery_month"], d["table"])]
        assert d["file"] == name
        i = d["row"]
        row = rows[i - 1]
        prev = []
        k = months.index(d["delivery_month"])
        if k > 0:
            prev = files[(months[k - 1], d["table"])][1]
        assert _shows(sf, d["kind"], d["table"], d["column"], row, rows, i, d["delivery_month"], prev, persons), d


def test_defects_are_one_per_row_and_cover_the_kinds(sf, defects, files):
    keys = [(d["file"], d["delivery_month"], d["row"]) for d in defects]
    assert len(keys) == len(set(keys))
    kinds = {d["kind"] for d in defects}
    assert kinds <= KINDS
    assert kinds == KINDS, KINDS - kinds
    assert {d["table"] for d in defects} == set(sf.TABLES)
    total = sum(len(rows) for _, rows in files.values())
    in_place = sum(d["kind"] != "resent_rows" for d in defects)
    assert 0.5 * sf.DEFECTS.defect_rate < in_place / total < 2 * sf.DEFECTS.defect_rate
