"""The deliveries follow inputs.md: tables, columns, types, enumerations, formats, manifests."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re

import pytest
import simple_icd_10_cm as icd


@pytest.fixture(scope="module")
def deliveries(sf, plan):
    """{month: {table: (file, header, rows, delimiter)}} for the clean plan."""
    out = {}
    for folder in sorted((plan / "landing").iterdir()):
        out[folder.name] = {}
        for t in sf.TABLES:
            f = sf.find_file(folder, t)
            header, rows, delim = sf.read_rows(f)
            out[folder.name][t] = (f, header, rows, delim)
    return out


def _month_end(label: str) -> dt.date:
    y, m = map(int, label.split("-"))
    return (dt.date(y + m // 12, m % 12 + 1, 1) - dt.timedelta(days=1))


def test_one_folder_per_month_with_every_table(sf, plan, deliveries):
    assert list(deliveries) == sf.MAIN.delivery_labels()
    for month, tables in deliveries.items():
        assert set(tables) == set(sf.TABLES)


def test_columns_are_exactly_those_of_inputs_md(sf, deliveries):
    for month, tables in deliveries.items():
        for t, (f, header, rows, _) in tables.items():
            assert header == sf.COLUMNS[t], f.name


def test_required_values_present_types_parse_and_enumerations_hold(sf, deliveries):
    for month, tables in deliveries.items():
        for t, (f, header, rows, _) in tables.items():
            for r in rows:
                for c in sf.REQUIRED[t]:
                    assert r[c] is not None, (f, c)
                for c, v in r.items():
                    if v is None:
                        continue
                    if c in sf.DATE_COLUMNS:
                        dt.date.fromisoformat(v)
                    elif c in sf.TIMESTAMP_COLUMNS:
                        assert "T" in v
                        dt.datetime.fromisoformat(v)
                    elif c in sf.INT_COLUMNS:
                        int(v)
                    elif c in sf.DECIMAL_COLUMNS:
                        float(v)
                    if (t, c) in sf.ENUMS:
                        assert v in sf.ENUMS[(t, c)], (f, c, v)


def test_every_table_rotates_through_all_formats_and_both_delimiters(sf, deliveries):
    for t in sf.TABLES:
        kinds = set()
        for month, tables in deliveries.items():
            f, _, _, delim = tables[t]
            kinds.add((f.name.split(".", 1)[1], delim))
        assert {k for k, _ in kinds} == {"csv", "csv.gz", "parquet"}, t
        assert {d for _, d in kinds if d} == {",", "|"}, t


def test_manifests_in_most_folders_and_correct(sf, plan, deliveries):
    folders = sorted((plan / "landing").iterdir())
    with_manifest = [f for f in folders if (f / "_manifest.json").exists()]
    assert len(folders) > len(with_manifest) >= len(folders) * 0.7
    for folder in with_manifest:
        manifest = json.loads((folder / "_manifest.json").read_text())
        for t in sf.TABLES:
            f, _, rows, _ = deliveries[folder.name][t]
            assert manifest[t]["rows"] == len(rows)
            assert manifest[t]["sha256"] == hashlib.sha256(f.read_bytes()).hexdigest()


def test_codes_are_valid(sf, deliveries):
    dotted = undotted = 0
    for month, tables in deliveries.items():
        for t in ("medical_claim", "ed_visit"):
            f, header, rows, _ = tables[t]
            dx_cols = [c for c in header if c.startswith("diagnosis_code_") and c != "diagnosis_code_type"]
            for r in rows:
                for c in dx_cols:
                    v = r[c]
                    if v is None:
                        continue
                    dotted += "." in v
                    undotted += "." not in v
                    assert icd.is_valid_item(v) and icd.is_leaf(v), (f.name, c, v)
        for t, cols in (("medical_claim", ("rendering_npi", "billing_npi", "facility_npi")),
                        ("pharmacy_claim", ("prescribing_provider_npi", "dispensing_provider_npi")),
                        ("ed_visit", ("facility_npi",))):
            for r in tables[t][2]:
                for c in cols:
                    assert r[c] is None or sf.npi_ok(r[c]), (t, c, r[c])
        for r in tables["pharmacy_claim"][2]:
            assert re.fullmatch(r"\d{11}", r["ndc_code"])
            assert r["atc_code"][0] in "ACNR"
        for r in tables["medical_claim"][2]:
            for c, n in (("revenue_center_code", 4), ("bill_type_code", 3), ("place_of_service_code", 2)):
                assert r[c] is None or (len(r[c]) == n and r[c].isdigit()), (c, r[c])
    assert dotted > 100 and undotted > 100


def test_claims_arrive_in_the_month_they_are_paid_with_sane_dates(deliveries):
    for month, tables in deliveries.items():
        for t, start_col in (("medical_claim", "claim_start_date"), ("pharmacy_claim", "dispensing_date")):
            for r in tables[t][2]:
                assert r["paid_date"][:7] == month
                assert r["paid_date"] >= r[start_col]
                if t == "medical_claim":
                    assert r["claim_end_date"] >= r["claim_start_date"]
                paid = float(r["paid_amount"])
                assert paid >= 0 or r["claim_status"] == "reversed"
                if r["claim_status"] == "denied":
                    assert paid == 0
        for r in tables["ed_visit"][2]:
            assert r["message_datetime"][:7] == month
            assert r["discharge_datetime"] is None or r["discharge_datetime"] >= r["arrival_datetime"]
        for r in tables["sdoh_screening"][2]:
            assert r["screening_date"] <= str(_month_end(month))


def test_eligibility_is_a_snapshot_without_future_leakage(deliveries):
    for month, tables in deliveries.items():
        end = str(_month_end(month))
        for r in tables["eligibility"][2]:
            assert r["enrollment_start_date"] <= end
            assert r["birth_date"] <= r["enrollment_start_date"]
            assert r["enrollment_end_date"] is None or r["enrollment_end_date"] < end
            assert r["death_date"] is None or r["death_date"] < month + "-01"
        for r in tables["care_management"][2]:
            assert r["status_date"] <= end


def test_every_claim_person_is_in_eligibility(deliveries):
    persons, members = set(), set()
    for tables in deliveries.values():
        for r in tables["eligibility"][2]:
            persons.add(r["person_id"])
            members.add(r["member_id"])
    for tables in deliveries.values():
        for t in ("medical_claim", "pharmacy_claim", "care_management", "sdoh_screening", "ed_visit"):
            for r in tables[t][2]:
                assert r["person_id"] is None or r["person_id"] in persons
                if "member_id" in r:
                    assert r["member_id"] in members


def test_the_plan_looks_like_medicaid(sf, deliveries):
    last = deliveries[sf.MAIN.delivery_labels()[-1]]
    rows = last["eligibility"][2]
    open_rows = [r for r in rows if r["enrollment_end_date"] is None]
    children = [r for r in open_rows if r["birth_date"] > "2005-01-01"]
    assert 0.45 < len(children) / len(open_rows) < 0.65
    aid = [r["aid_category"] for r in children]
    assert 0.005 < aid.count("foster_care") / len(aid) < 0.05
    assert aid.count("ssi_disabled") > 0 and aid.count("chip") > 0
    races = [r["race"] for r in open_rows]
    assert 0.04 < races.count("unknown") / len(races) < 0.13
    assert all(r["state"] == "GA" and r["zip_code"][:2] in ("30", "31") for r in rows)
    assert all("555-01" in r["phone"] for r in rows)
    foster = [r["subscriber_id"] for r in children if r["aid_category"] == "foster_care"]
    assert all(s.startswith("DFCS") for s in foster)
    # households: children share a subscriber id with siblings and a parent
    subs = [r["subscriber_id"] for r in open_rows]
    assert len(set(subs)) < 0.6 * len(subs)
    # churn: some persons have several spans, some under a new member id
    spans, ids = {}, {}
    for r in rows:
        spans[r["person_id"]] = spans.get(r["person_id"], 0) + 1
        ids.setdefault(r["person_id"], set()).add(r["member_id"])
    assert sum(v > 1 for v in spans.values()) > 0.03 * len(spans)
    assert sum(len(v) > 1 for v in ids.values()) > 0
    statuses = [r["claim_status"] for t in deliveries.values() for r in t["medical_claim"][2]]
    assert 0.02 < statuses.count("denied") / len(statuses) < 0.07
    assert statuses.count("reversed") > 0
    seqs = [r["adjustment_sequence"] for t in deliveries.values() for r in t["medical_claim"][2]]
    assert 0.01 < seqs.count("1") / len(seqs) < 0.06
    ed_rows = [r for t in deliveries.values() for r in t["ed_visit"][2]]
    assert 0.01 < sum(r["person_id"] is None for r in ed_rows) / len(ed_rows) < 0.15


def test_clean_files_have_no_duplicate_rows(sf, deliveries):
    for month, tables in deliveries.items():
        for t, (f, header, rows, _) in tables.items():
            keys = [sf.norm(r) for r in rows]
            assert len(keys) == len(set(keys)), f
