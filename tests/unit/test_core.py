"""The common core every stage uses: months, fingerprints, atomic writes, the ranking rule, SQL helpers."""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from riskstrat.core import files, months, ranking, sql
from riskstrat.core.errors import RiskstratError
from riskstrat.core.fingerprint import _files_under, code_fingerprint, fingerprint, lake_fingerprint, sha256_file
from riskstrat.core.workspace import lake_partitions, partition_path

# --- months -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("month", "k", "expected"), [
    ("2025-01", -1, "2024-12"), ("2024-12", 1, "2025-01"), ("2025-06", 0, "2025-06"), ("2025-03", -27, "2022-12"),
    ("2025-11", 14, "2027-01"),
])
def test_add_months_crosses_years_both_ways(month, k, expected):
    assert months.add_months(month, k) == expected
    assert months.months_apart(month, expected) == k


def test_months_between_and_the_days_of_a_month():
    assert months.months_between("2024-11", "2025-02") == ["2024-11", "2024-12", "2025-01", "2025-02"]
    assert months.months_between("2025-02", "2025-01") == []
    assert months.month_start("2024-02") == date(2024, 2, 1)
    assert months.month_end("2024-02") == date(2024, 2, 29)  # a leap year
    assert months.month_end("2025-02") == date(2025, 2, 28)
    assert months.month_end("2025-12") == date(2025, 12, 31)


@pytest.mark.parametrize("bad", ["2025-13", "2025-00", "25-01", "2025-1", "2025/01", None, 202501])
def test_a_month_that_is_not_one_is_refused_naming_what_it_was_for(bad):
    assert not months.is_month(bad)
    with pytest.raises(months.MonthError, match=r"^--as-of: .* is not a month in YYYY-MM form$"):
        months.check_month(bad, "--as-of")
    assert issubclass(months.MonthError, RiskstratError)


# --- fingerprints --------------------------------------------------------------------------------

def test_fingerprint_ignores_key_order_and_sees_values():
    assert fingerprint({"a": 1, "b": [1, 2]}) == fingerprint({"b": [1, 2], "a": 1})
    assert fingerprint({"a": 1}) != fingerprint({"a": 2})


def _partition(ws: Path, table: str, month: str, rows: int) -> Path:
    path = partition_path(ws, "lake", table, month)
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table({"x": list(range(rows))}), path)
    return path


def test_lake_fingerprint_reads_only_months_up_to_the_one_asked(tmp_path):
    _partition(tmp_path, "eligibility", "2025-10", 3)
    before = lake_fingerprint(tmp_path, "2025-10")
    assert before["partitions"] == {"lake/eligibility/delivery_month=2025-10/part-0.parquet": {
        "sha256": sha256_file(tmp_path / "lake/eligibility/delivery_month=2025-10/part-0.parquet"), "rows": 3}}
    _partition(tmp_path, "medical_claim", "2025-11", 5)
    assert lake_fingerprint(tmp_path, "2025-10") == before  # a later delivery changes no earlier month
    assert lake_fingerprint(tmp_path, "2025-11")["digest"] != before["digest"]
    _partition(tmp_path, "eligibility", "2025-10", 4)  # the month resent
    assert lake_fingerprint(tmp_path, "2025-10")["digest"] != before["digest"]
    assert [p.name for p in lake_partitions(tmp_path)] == ["part-0.parquet"] * 2


def test_code_fingerprint_covers_the_shipped_declarations():
    code = code_fingerprint()
    assert code["package"] == "riskstrat" and len(code["digest"]) == 64 and code["version"]
    # the digest is over the code and everything shipped beside it, under the installed names
    names = {name for package in ("riskstrat", "riskstrat.data_contracts", "riskstrat.model_specs", "riskstrat.flows")
             for name, _ in _files_under(package)}
    assert {"riskstrat/features/declarations.yaml", "riskstrat/features/concepts/population.sql",
            "riskstrat/data_contracts/eligibility.yaml", "riskstrat/model_specs/acute_event.yaml",
            "riskstrat/flows/monthly.py", "riskstrat/core/months.py"} <= names
    assert not any("__pycache__" in name for name in names)


# --- atomic writes --------------------------------------------------------------------------------

def test_write_atomic_replaces_whole_and_leaves_nothing_behind(tmp_path):
    target = tmp_path / "deep" / "state.json"
    files.write_atomic(target, "one")
    files.write_atomic(target, b"two")
    assert target.read_bytes() == b"two"
    assert sorted(p.name for p in target.parent.iterdir()) == ["state.json"]


def test_a_failed_write_keeps_the_file_it_would_have_replaced(tmp_path, monkeypatch):
    target = tmp_path / "state.json"
    files.write_atomic(target, "kept")

    def broken(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken)
    with pytest.raises(OSError, match="disk full"):
        files.write_atomic(target, "lost")
    assert target.read_text() == "kept"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.json"]


def test_staged_folder_appears_whole_and_a_failure_keeps_the_old_one(tmp_path):
    final = tmp_path / "outputs" / "2025-11"
    with files.staged_folder(final) as tmp:
        (tmp / "a.txt").write_text("first")
        assert not final.exists()
    assert (final / "a.txt").read_text() == "first"
    with pytest.raises(RuntimeError):
        with files.staged_folder(final) as tmp:
            (tmp / "a.txt").write_text("second")
            raise RuntimeError("crash while writing")
    assert (final / "a.txt").read_text() == "first"
    with files.staged_folder(final) as tmp:
        (tmp / "b.txt").write_text("third")
    assert sorted(p.name for p in final.iterdir()) == ["b.txt"]
    assert sorted(p.name for p in final.parent.iterdir()) == ["2025-11"]


def test_recover_folder_brings_back_a_folder_whose_successor_never_arrived(tmp_path):
    final = tmp_path / "2025-11"
    old = tmp_path / ".old-2025-11-123"
    old.mkdir()
    (old / "scores.parquet").write_text("published")
    (tmp_path / ".tmp-2025-11-456").mkdir()  # a half-built month of a killed run
    files.recover_folder(final)
    assert (final / "scores.parquet").read_text() == "published"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["2025-11"]


# --- the ranking rule and the capacity pick --------------------------------------------------------

def test_equal_scores_are_ordered_by_person_id():
    order = ranking.rank_order([0.2, 0.9, 0.2, 0.5], ["c", "z", "a", "b"])
    assert order.tolist() == [1, 3, 2, 0]


def test_pick_top_per_group_skips_the_ineligible_without_using_capacity():
    score = np.array([0.9, 0.8, 0.8, 0.1, 0.7, 0.6, 0.5])
    ids = ["p1", "p3", "p2", "p4", "p5", "p6", "p7"]
    month = ["a", "a", "a", "a", "b", "b", "b"]
    picked = ranking.pick_top(score, ids, 2, groups=month)
    assert picked.tolist() == [True, False, True, False, True, True, False]  # p2 beats p3 at 0.8
    eligible = np.array([False, True, True, True, True, True, True])
    picked = ranking.pick_top(score, ids, 2, groups=month, eligible=eligible)
    assert picked.tolist() == [False, True, True, False, True, True, False]
    assert ranking.pick_top(score, ids, 10).sum() == len(score)
    # the rank order, when the caller already has it, gives the same pick
    order = ranking.rank_order(score, ids)
    assert (ranking.pick_top(score, ids, 2, groups=month, eligible=eligible, order=order)
            == ranking.pick_top(score, ids, 2, groups=month, eligible=eligible)).all()


# --- SQL helpers ------------------------------------------------------------------------------------

def test_scalar_fetches_the_whole_result_so_the_connection_stays_usable():
    con = duckdb.connect()
    con.execute("CREATE TABLE t AS SELECT * FROM range(3) r(x)")
    # what scalar() exists for: a result read with fetchone() stays open and blocks the connection
    con.execute("SELECT MAX(x) FROM t WHERE x > ?", [5]).fetchone()
    with pytest.raises(duckdb.Error, match="unfinished result"):
        con.sql("SELECT count(*) FROM t").fetchall()
    con = duckdb.connect()
    con.execute("CREATE TABLE t AS SELECT * FROM range(3) r(x)")
    assert sql.scalar(con, "SELECT MAX(x) FROM t WHERE x > ?", [5]) is None
    assert con.sql("SELECT count(*) FROM t").fetchall() == [(3,)]
    assert sql.first_row(con, "SELECT x FROM t WHERE x < 0") is None
    assert sql.literal("O'Brien") == "'O''Brien'" and sql.identifier('a"b') == '"a""b"'
