"""Each rule on a bad fixture: row rules quarantine exactly the bad row, delivery rules refuse or fail the
table with one line naming the file, warn rules only count. The clean plan is the good fixture."""

from __future__ import annotations

import gzip
import json

import duckdb
import pytest
from ingest_helpers import copy_plan, read_csv_rows, snapshot, write_csv_rows

from riskstrat.config import IngestSettings
from riskstrat.ingest import ingest_workspace
from riskstrat.lake import connect

M2 = "2025-02"
FAST = IngestSettings(data_docs=False)  # Data Docs are tested on the clean plan

# (case id, table, base row (0-based, in the 2025-02 file or the base file named below), changes, rule, column)
# rule None = a good variant: the row must be accepted.
ROW_CASES = [
    ("icd_not_icd10", "medical_claim", 0, {"diagnosis_code_1": "4019"}, "icd10cm_billable", "diagnosis_code_1"),
    ("icd_category_not_billable", "medical_claim", 0, {"diagnosis_code_1": "F32"}, "icd10cm_billable", "diagnosis_code_1"),
    ("icd_bad_in_third_column", "medical_claim", 0, {"diagnosis_code_3": "ZZZ.9"}, "icd10cm_billable", "diagnosis_code_3"),
    ("icd_lowercase_with_dot_ok", "medical_claim", 0, {"diagnosis_code_1": "j06.9"}, None, None),
    ("claim_ends_before_start", "medical_claim", 0, {"claim_end_date": "2025-01-01"}, "date_order", "claim_end_date"),
    ("paid_before_service", "medical_claim", 0, {"paid_date": "2024-12-30"}, "date_order", "paid_date"),
    ("service_after_delivery_month", "medical_claim", 0, {"claim_start_date": "2025-03-15", "claim_end_date": "2025-03-15"},
     "date_range", "claim_start_date"),
    ("service_before_2000", "medical_claim", 0, {"claim_start_date": "1999-12-31"}, "date_range", "claim_start_date"),
    ("negative_paid", "medical_claim", 0, {"paid_amount": "-5.00"}, "paid_not_negative", "paid_amount"),
    ("negative_on_reversal_ok", "medical_claim", 0, {"paid_amount": "-5.00", "claim_status": "reversed"}, None, None),
    ("unknown_person", "medical_claim", 0, {"person_id": "P999"}, "unknown_person", "person_id"),
    ("malformed_amount", "medical_claim", 0, {"paid_amount": "$1,204.50"}, "type", "paid_amount"),
    ("malformed_integer", "medical_claim", 0, {"claim_line_number": "1O"}, "type", "claim_line_number"),
    ("malformed_date", "medical_claim", 0, {"claim_start_date": "01/03/2025"}, "type", "claim_start_date"),
    ("missing_claim_type", "medical_claim", 0, {"claim_type": ""}, "required", "claim_type"),
    # GX sees an id column read only by `required` as a presence flag: the rule still names it
    ("missing_member_id", "medical_claim", 0, {"member_id": ""}, "required", "member_id"),
    ("blank_claim_id", "medical_claim", 0, {"claim_id": "   "}, "required", "claim_id"),
    ("padded_values_ok", "medical_claim", 0, {"claim_type": " professional ", "paid_date": "2025-02-10 "}, None, None),
    ("bad_npi", "medical_claim", 0, {"rendering_npi": "1234567890"}, "npi_check_digit", "rendering_npi"),
    ("bad_claim_type", "medical_claim", 0, {"claim_type": "prof"}, "enum", "claim_type"),
    ("bad_claim_status", "medical_claim", 0, {"claim_status": "PD"}, "enum", "claim_status"),
    ("service_outside_enrolment_warns", "medical_claim", 3, {"claim_start_date": "2025-01-20", "claim_end_date": "2025-01-20"},
     None, None),
    ("ndc_ten_digits", "pharmacy_claim", 0, {"ndc_code": "0000214338"}, "ndc_format", "ndc_code"),
    ("ndc_hyphenated_5_4_2_ok", "pharmacy_claim", 0, {"ndc_code": "00002-1433-80"}, None, None),
    ("pharmacy_paid_before_fill", "pharmacy_claim", 0, {"paid_date": "2025-01-01"}, "date_order", "paid_date"),
    ("days_supply_missing", "pharmacy_claim", 0, {"days_supply": ""}, "required", "days_supply"),
    ("gender_code", "eligibility", 5, {"gender": "M"}, "enum", "gender"),
    ("payer_type_case", "eligibility", 5, {"payer_type": "MEDICAID"}, "enum", "payer_type"),
    ("birth_missing", "eligibility", 5, {"birth_date": ""}, "required", "birth_date"),
    ("birth_after_enrolment", "eligibility", 5, {"birth_date": "2025-02-10"}, "date_order", "enrollment_start_date"),
    ("birth_in_future", "eligibility", 5, {"birth_date": "2026-06-01", "enrollment_start_date": "2026-07-01"},
     "date_range", "birth_date"),
    ("ed_disposition", "ed_visit", 0, {"disposition": "home"}, "enum", "disposition"),
    ("ed_discharge_before_arrival", "ed_visit", 0, {"discharge_datetime": "2025-02-14T20:00:00Z"}, "date_order",
     "discharge_datetime"),
    ("ed_unknown_member", "ed_visit", 0, {"person_id": "", "member_id": "M404"}, "unknown_person", "person_id"),
    ("ed_member_resolves_ok", "ed_visit", 0, {"person_id": "", "member_id": "M002"}, None, None),
    ("ed_impossible_timestamp", "ed_visit", 0, {"arrival_datetime": "2025-02-30T10:00:00"}, "type", "arrival_datetime"),
    ("ed_bad_facility_npi", "ed_visit", 0, {"facility_npi": "1112223339"}, "npi_check_digit", "facility_npi"),
    ("cm_status", "care_management", 0, {"status": "active"}, "enum", "status"),
    ("cm_unknown_person", "care_management", 0, {"person_id": "P777"}, "unknown_person", "person_id"),
    ("cm_future_status_date", "care_management", 0, {"status_date": "2025-06-01"}, "date_range", "status_date"),
    ("sdoh_result", "sdoh_screening", 0, {"result": "yes"}, "enum", "result"),
    ("sdoh_missing_date", "sdoh_screening", 0, {"screening_date": ""}, "required", "screening_date"),
]
UNIQUE = {"medical_claim": "claim_id", "pharmacy_claim": "claim_id", "ed_visit": "visit_id", "eligibility": "person_id",
          "care_management": "program", "sdoh_screening": "domain"}


@pytest.fixture(scope="session")
def bad_rows(tmp_path_factory):
    """The fixture plan with, in 2025-02, one appended row per case (and a duplicate, a key clash)."""
    ws = copy_plan(tmp_path_factory.mktemp("bad_rows"))
    month = ws / "landing" / M2
    # pharmacy and sdoh of 2025-02 as CSV built from January's rows
    (month / "pharmacy_claim.parquet").unlink()
    h, rows, _ = read_csv_rows(ws / "landing" / "2025-01" / "pharmacy_claim.csv.gz")
    rows = [[{"dispensing_date": "2025-02-03", "paid_date": "2025-02-04", "claim_id": f"R3{i}"}.get(c, v)
             for c, v in zip(h, r)] for i, r in enumerate(rows)]
    write_csv_rows(month / "pharmacy_claim.csv", h, rows)
    h, rows, _ = read_csv_rows(ws / "landing" / "2025-01" / "sdoh_screening.csv")
    write_csv_rows(month / "sdoh_screening.csv", h, [[{"screening_date": "2025-02-02"}.get(c, v) for c, v in zip(h, r)]
                                                     for r in rows])
    files = {t: next(p for p in month.iterdir() if p.name.startswith(t + ".")) for t in UNIQUE}
    content = {t: read_csv_rows(p) for t, p in files.items()}
    where: dict[str, tuple[str, int]] = {}
    for i, (case, table, base, changes, _rule, _col) in enumerate(ROW_CASES):
        header, rows, _ = content[table]
        row = dict(zip(header, rows[base]))
        row[UNIQUE[table]] = f"X{i:02d}" if table != "eligibility" else f"P9{i:02d}"
        if table == "sdoh_screening":
            row["domain"] = ["education", "employment", "utilities"][i % 3]
        row.update(changes)
        rows.append([row[c] for c in header])
        where[case] = (files[table].name, len(rows))
    # an exact duplicate line (the copy goes, the first stays) and two rows clashing on the key
    header, rows, _ = content["medical_claim"]
    rows.append(list(rows[3]))
    where["duplicate_copy"] = ("medical_claim.csv", len(rows))
    where["duplicate_original"] = ("medical_claim.csv", 4)
    clash = dict(zip(header, rows[3]))
    clash.update(claim_id="K1")
    rows.append([clash[c] for c in header])
    clash.update(paid_amount="71.00")
    rows.append([clash[c] for c in header])
    where["key_clash"] = ("medical_claim.csv", len(rows))
    for t, p in files.items():
        header, rows, delim = content[t]
        write_csv_rows(p, header, rows, delim)
    report = ingest_workspace(ws, settings=IngestSettings(max_bad_row_share=1.0, data_docs=False))
    con = duckdb.connect()
    quarantined = {}
    for t in UNIQUE:
        pattern = ws / "quarantine" / t / f"delivery_month={M2}" / "part-0.parquet"
        if pattern.exists():
            for f, r, rule, rules, detail in con.execute(
                f"SELECT source_file, source_row, rule, rules, detail FROM read_parquet('{pattern}')"
            ).fetchall():
                quarantined[(f, r)] = (rule, rules.split(","), detail)
    return ws, report, where, quarantined


@pytest.mark.parametrize("case,table,base,changes,rule,column", ROW_CASES, ids=[c[0] for c in ROW_CASES])
def test_row_rule(bad_rows, case, table, base, changes, rule, column):
    ws, report, where, quarantined = bad_rows
    key = where[case]
    if rule is None:
        assert key not in quarantined, quarantined.get(key)
        lake = connect(ws)
        n = lake.execute(f"SELECT count(*) FROM {table} WHERE delivery_month = ? AND source_row = ?", [M2, key[1]]).fetchall()
        assert n[0][0] == 1
    else:
        assert key in quarantined, f"{case}: row {key} was accepted"
        primary, rules, detail = quarantined[key]
        assert rule in rules
        assert f"{rule}:{column}" in detail.split(";")


def test_exact_duplicate_keeps_the_first(bad_rows):
    _, _, where, quarantined = bad_rows
    assert quarantined[where["duplicate_copy"]][0] == "duplicate_row"
    assert where["duplicate_original"] not in quarantined


def test_rows_sharing_a_key_are_all_quarantined(bad_rows):
    _, _, where, quarantined = bad_rows
    f, last = where["key_clash"]
    assert quarantined[(f, last)][0] == "unique_key" and quarantined[(f, last - 1)][0] == "unique_key"


def test_only_the_bad_rows_are_quarantined_and_every_row_is_counted(bad_rows):
    ws, report, where, quarantined = bad_rows
    expected = {where[c[0]] for c in ROW_CASES if c[4] is not None}
    expected |= {where["duplicate_copy"], where["key_clash"], (where["key_clash"][0], where["key_clash"][1] - 1)}
    expected.add(("medical_claim.csv", 5))  # the resent C102 line of the clean plan
    assert set(quarantined) == expected
    for t in report.tables:
        assert t.balanced and t.status in ("accepted", "missing"), t.line()


def test_warn_rules_count_but_keep_the_row(bad_rows):
    _, report, where, quarantined = bad_rows
    med = next(t for t in report.tables if t.table == "medical_claim" and t.delivery_month == M2)
    assert med.rule_counts.get("service_in_enrollment", 0) >= 1 and med.rows_warned >= 1
    assert where["service_outside_enrolment_warns"] not in quarantined


def test_quarantine_keeps_original_text_and_lineage(bad_rows):
    ws, _, where, _ = bad_rows
    f, row = where["malformed_amount"]
    q = duckdb.connect().execute(
        f"SELECT paid_amount, source_file, source_row, rule FROM read_parquet('{ws}/quarantine/medical_claim/*/*.parquet') "
        f"WHERE source_row = ?", [row]
    ).fetchall()
    assert ("$1,204.50", f, row, "type") in q


def test_messages_never_carry_values(bad_rows):
    ws, report, _, _ = bad_rows
    text = json.dumps(report.to_records()) + " ".join(report.problems())
    for value in ("P999", "Smith", "M404", "$1,204.50", "dizzy"):
        assert value not in text


# --- delivery rules -------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def bad_delivery(tmp_path_factory):
    """2025-01 clean; in 2025-02 every table but eligibility breaks a different delivery rule."""
    ws = copy_plan(tmp_path_factory.mktemp("bad_delivery"))
    ingest_workspace(ws, month="2025-01", settings=FAST)
    before = snapshot(ws)
    month = ws / "landing" / M2
    (month / "_manifest.json").write_text(json.dumps({"medical_claim": {"rows": 99}}))
    (month / "pharmacy_claim.parquet").unlink()
    data = gzip.compress((ws / "landing" / "2025-01" / "pharmacy_claim.csv.gz").read_bytes() * 1)
    (month / "pharmacy_claim.csv.gz").write_bytes(data[: len(data) // 2])  # truncated gzip
    ed = (month / "ed_visit.csv").read_text(encoding="utf-8").replace("fever", "fièvre")
    (month / "ed_visit.csv").write_bytes(ed.encode("latin-1"))  # wrong encoding
    h, rows, _ = read_csv_rows(month / "care_management.csv")
    i = h.index("status")
    write_csv_rows(month / "care_management.csv", h[:i] + h[i + 1:], [r[:i] + r[i + 1:] for r in rows])
    h, rows, _ = read_csv_rows(ws / "landing" / "2025-01" / "sdoh_screening.csv")
    rows = [[{"screening_date": "2025-02-02"}.get(c, v) for c, v in zip(h, r)] for r in rows]
    rows += [[{"result": "yes", "domain": d}.get(c, v) for c, v in zip(h, rows[0])] for d in ("education", "utilities", "employment")]
    write_csv_rows(month / "sdoh_screening.csv", h, rows)
    report = ingest_workspace(ws, settings=IngestSettings(min_rows_for_share=0, data_docs=False))
    return ws, before, report


def _result(report, table):
    return next(t for t in report.tables if t.table == table and t.delivery_month == M2)


def test_manifest_row_count_mismatch_refuses_the_table(bad_delivery):
    ws, _, report = bad_delivery
    med = _result(report, "medical_claim")
    assert (med.status, med.rule) == ("refused", "manifest_rows")
    assert med.rows_quarantined == med.rows_in == 5 and med.rows_accepted == 0
    assert not (ws / "lake" / "medical_claim" / f"delivery_month={M2}").exists()
    rules = duckdb.connect().execute(
        f"SELECT DISTINCT rule FROM read_parquet('{ws}/quarantine/medical_claim/delivery_month={M2}/part-0.parquet')"
    ).fetchall()
    assert rules == [("manifest_rows",)]


def test_truncated_gzip_fails_the_table_in_one_line(bad_delivery):
    _, _, report = bad_delivery
    ph = _result(report, "pharmacy_claim")
    assert (ph.status, ph.rule) == ("failed", "readable")
    line = ph.line()
    assert "\n" not in line and "pharmacy_claim.csv.gz" in line and "gzip" in line


def test_wrong_encoding_fails_the_table(bad_delivery):
    _, _, report = bad_delivery
    ed = _result(report, "ed_visit")
    assert (ed.status, ed.rule) == ("failed", "readable") and "UTF-8" in ed.message
    assert "ed_visit.csv" in ed.line()


def test_missing_required_column_fails_the_table(bad_delivery):
    _, _, report = bad_delivery
    cm = _result(report, "care_management")
    assert (cm.status, cm.rule) == ("failed", "required_columns") and "status" in cm.message


def test_too_many_bad_rows_refuses_the_table(bad_delivery):
    _, _, report = bad_delivery
    sd = _result(report, "sdoh_screening")
    assert (sd.status, sd.rule) == ("refused", "bad_row_share")
    assert sd.rows_in == sd.rows_quarantined == 5


def test_the_rest_of_the_delivery_goes_in_and_the_last_good_state_stays(bad_delivery):
    ws, before, report = bad_delivery
    assert _result(report, "eligibility").status == "accepted"
    assert (ws / "lake" / "eligibility" / f"delivery_month={M2}" / "part-0.parquet").exists()
    after = snapshot(ws)
    for path, digest in before.items():
        if "2025-01" in path:
            assert after[path] == digest  # January untouched
    assert len(report.problems()) == 5


def test_unreadable_parquet_fails_the_table(tmp_path):
    ws = copy_plan(tmp_path, months=("2025-01",))
    (ws / "landing" / "2025-01" / "eligibility.csv").unlink()
    (ws / "landing" / "2025-01" / "eligibility.parquet").write_bytes(b"PAR1 this is not parquet")
    report = ingest_workspace(ws, settings=FAST)
    el = next(t for t in report.tables if t.table == "eligibility")
    assert (el.status, el.rule) == ("failed", "readable") and "Parquet" in el.message
    # with no eligibility, every claim's person is unknown: quarantined, not lost
    med = next(t for t in report.tables if t.table == "medical_claim")
    assert med.rule_counts.get("unknown_person") == 5 and med.balanced
