"""The clean fixture plan: every row accounted for, typed and normalised, final-claim rule, idempotency."""

from __future__ import annotations

import json
import shutil
from datetime import date, datetime

from ingest_helpers import PLAN, copy_plan, snapshot

from riskstrat.ingest import ingest_workspace, read_deliveries
from riskstrat.lake import connect, final_claims


def test_every_row_is_accepted_or_quarantined(clean_plan):
    ws, report = clean_plan
    assert report.months == ["2025-01", "2025-02"]
    by = {(t.table, t.delivery_month): t for t in report.tables}
    for t in report.tables:
        assert t.balanced, t.line()
        assert t.status in ("accepted", "missing"), t.line()
    assert by[("sdoh_screening", "2025-02")].status == "missing"  # optional table, not delivered
    # the only quarantined row of the clean plan is the resent C102 line
    assert by[("medical_claim", "2025-02")].rows_quarantined == 1
    assert by[("medical_claim", "2025-02")].rule_counts == {"already_delivered": 1}
    assert sum(t.rows_quarantined for t in report.tables) == 1
    assert report.ok and report.problems() == []


def test_ledger_matches_the_report(clean_plan):
    ws, report = clean_plan
    ledger = {(r["table"], r["delivery_month"]): r for r in read_deliveries(ws)}
    for t in report.tables:
        if t.status == "missing":
            assert (t.table, t.delivery_month) not in ledger
            continue
        row = ledger[(t.table, t.delivery_month)]
        assert (row["rows_in"], row["rows_accepted"], row["rows_quarantined"]) == (t.rows_in, t.rows_accepted, t.rows_quarantined)
        assert row["sha256"] == t.sha256 and row["status"] == "accepted"
        assert row["ingested_at"] is not None


def test_lake_columns_are_typed_and_codes_normalised(clean_plan):
    ws, _ = clean_plan
    con = connect(ws)
    types = dict(con.execute("SELECT column_name, column_type FROM (DESCRIBE medical_claim)").fetchall())
    assert types["paid_amount"] == "DOUBLE" and types["claim_start_date"] == "DATE"
    assert types["claim_line_number"] == "BIGINT" and types["delivery_month"] == "VARCHAR"
    rows = con.execute(
        "SELECT claim_id, claim_line_number, diagnosis_code_1, diagnosis_code_2, revenue_center_code, bill_type_code, "
        "claim_status, adjustment_sequence, source_file, source_row FROM medical_claim WHERE delivery_month = '2025-01' "
        "ORDER BY source_row"
    ).fetchall()
    c101_1 = rows[1]
    assert c101_1[2:8] == ("S0990XA", "F909", "0450", "131", "paid", 0)  # dots gone, 450 padded, null status -> paid
    assert rows[3][5] == "111"  # bill type 0111 -> 111
    assert rows[0][8:] == ("medical_claim.csv", 1)
    ndc = con.execute("SELECT ndc_code, atc_code, quantity FROM pharmacy_claim ORDER BY delivery_month, source_row").fetchall()
    assert [r[0] for r in ndc] == ["00002143380"] * 3  # 5-4-2, 4-4-2 and plain forms
    assert ndc[0][1] == "N06BA04" and ndc[1][2] == 1.5
    ed = con.execute("SELECT visit_id, person_id, arrival_datetime, chief_complaint, diagnosis_code_1 FROM ed_visit "
                     "ORDER BY visit_id").fetchall()
    assert ed[0][3] == 'head hit, "dizzy"'  # pipe-delimited, quoted
    assert ed[1][1] == "P001"  # person_id filled from eligibility's member_id
    assert ed[1][2] == datetime(2025, 1, 21, 8, 0)
    assert ed[2][2] == datetime(2025, 2, 14, 22, 0)  # ISO 8601 with Z
    elig = con.execute("SELECT count(*), count(DISTINCT person_id) FROM eligibility WHERE delivery_month = '2025-02'").fetchall()[0]
    assert elig == (6, 5)
    assert con.execute("SELECT birth_date FROM eligibility WHERE person_id = 'P001' LIMIT 1").fetchall()[0][0] == date(2015, 3, 4)


def test_empty_tables_are_typed_views(tmp_path):
    con = connect(tmp_path)
    assert con.execute("SELECT count(*) FROM medical_claim").fetchall()[0][0] == 0
    types = dict(con.execute("SELECT column_name, column_type FROM (DESCRIBE eligibility)").fetchall())
    assert types["birth_date"] == "DATE" and types["source_row"] == "BIGINT"


def test_final_claims_apply_adjustments_reversals_and_denials(clean_plan):
    ws, _ = clean_plan
    con = connect(ws)

    def claims(month):
        rel = final_claims(con, month)
        return {(r[0], r[1]): r[2:] for r in rel.project("claim_id, claim_line_number, adjustment_sequence, paid_amount, is_denied").fetchall()}

    jan = claims("2025-01")
    assert set(jan) == {("C100", 1), ("C101", 1), ("C101", 2), ("C102", 1), ("C103", 1)}
    assert jan[("C100", 1)] == (0, 80.5, False)
    assert jan[("C103", 1)][2] is True  # denied: kept apart, still a diagnosis
    feb = claims("2025-02")
    assert ("C101", 1) not in feb and ("C101", 2) not in feb  # reversed in February
    assert feb[("C100", 1)] == (1, 95.0, False)  # the adjustment replaces the original
    assert ("C104", 1) in feb
    # the resent C102 line is in the lake once
    assert con.execute("SELECT count(*) FROM medical_claim WHERE claim_id = 'C102'").fetchall()[0][0] == 1
    pharmacy = final_claims(con, "2025-02", "pharmacy_claim").fetchall()
    assert len(pharmacy) == 3


def test_validation_results_and_data_docs_are_in_the_workspace(clean_plan):
    ws, _ = clean_plan
    folder = ws / "validation" / "2025-02"
    assert (folder / "data_docs" / "index.html").exists()
    result = json.loads((folder / "medical_claim.json").read_text())
    assert result["reconciliation"]["rows_in"] == 5
    gx_results = result["great_expectations"]["results"]
    failed = [r for r in gx_results if not r["success"]]
    assert [r["expectation_config"]["meta"]["rule"] for r in failed] == ["already_delivered"]
    assert failed[0]["result"]["unexpected_index_list"] == [5]
    assert "unexpected_list" not in failed[0]["result"]  # row numbers, never values


def test_data_docs_are_built_for_the_newest_month_of_a_run(clean_plan, tmp_path):
    ws, report = clean_plan
    older = ws / "validation" / "2025-01"
    delivered = [t.table for t in report.tables if t.delivery_month == "2025-01" and t.status != "missing"]
    assert {p.name for p in older.iterdir()} == {f"{t}.json" for t in delivered} | {"summary.json"}
    assert (ws / "validation" / "2025-02" / "data_docs" / "index.html").exists()
    # month by month, as the monthly job runs: each run builds its month's docs and keeps the earlier ones
    one = copy_plan(tmp_path / "monthly", months=("2025-01",))
    ingest_workspace(one)
    shutil.copytree(PLAN / "landing" / "2025-02", one / "landing" / "2025-02")
    kept = snapshot(one)
    assert ingest_workspace(one).months == ["2025-02"]
    assert {k: v for k, v in snapshot(one).items() if k.startswith("validation/2025-01/")} == {
        k: v for k, v in kept.items() if k.startswith("validation/2025-01/")}
    for month in ("2025-01", "2025-02"):
        assert (one / "validation" / month / "data_docs" / "index.html").exists()


def test_ingesting_again_changes_nothing(clean_plan):
    ws, _ = clean_plan
    before = snapshot(ws)
    again = ingest_workspace(ws)
    assert again.months == [] and again.skipped == ["2025-01", "2025-02"]
    month = ingest_workspace(ws, month="2025-02")
    assert month.skipped == ["2025-02"]
    assert snapshot(ws) == before


def test_an_identical_resend_changes_nothing(clean_plan):
    ws, _ = clean_plan
    before = snapshot(ws)
    for p in (PLAN / "landing" / "2025-02").iterdir():  # the plan sends the same files again
        shutil.copyfile(p, ws / "landing" / "2025-02" / p.name)
    report = ingest_workspace(ws)
    assert report.months == []
    assert snapshot(ws) == before


def test_row_hashes_stay_what_earlier_ingests_wrote(clean_plan):
    """Resends are recognised by row_hash against rows already in the lake, so its values may not
    drift: these were written by the ingest of November 2026 (DuckDB 2.0). A change to the hash
    formula, or a DuckDB upgrade that changes hash(), fails here; it would let resends of every
    month ingested before it in twice unless those months are ingested again from landing/."""
    import pyarrow.parquet as pq

    from riskstrat.core.workspace import partition_path

    ws, _ = clean_plan
    pinned = {  # (table, month) -> row_hash of the file's first row; pharmacy 2025-02 arrives as Parquet
        ("eligibility", "2025-01"): 5042028300069593655,
        ("medical_claim", "2025-01"): 6295779903732133976,
        ("medical_claim", "2025-02"): 6868162570087686810,
        ("pharmacy_claim", "2025-02"): 16997346463837429466,
        ("sdoh_screening", "2025-01"): 17722604024502190248,
    }
    for (table, month), expected in pinned.items():
        lake = pq.read_table(partition_path(ws, "lake", table, month), columns=["source_row", "row_hash"]).to_pylist()
        assert next(r["row_hash"] for r in lake if r["source_row"] == 1) == expected, (table, month)
