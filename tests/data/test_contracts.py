"""The data contracts themselves: valid ODCS v3, complete, and compilable to GX suites."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import open_data_contract_standard
import pytest
import yaml

from riskstrat.ingest.contracts import (
    SEVERITIES,
    TABLES,
    ContractError,
    compile_suite,
    default_contracts_dir,
    gx_columns,
    load_contract,
    load_contracts,
)

ODCS_SCHEMA = json.loads((Path(open_data_contract_standard.__file__).parent / "schema.json").read_text())

# inputs.md: required columns per table (the contract must not loosen them)
REQUIRED = {
    "eligibility": {"person_id", "member_id", "gender", "birth_date", "enrollment_start_date", "payer", "payer_type", "plan"},
    "medical_claim": {"claim_id", "claim_line_number", "claim_type", "person_id", "member_id", "payer", "plan",
                      "claim_start_date", "claim_end_date", "paid_date", "paid_amount", "diagnosis_code_type",
                      "diagnosis_code_1"},
    "pharmacy_claim": {"claim_id", "claim_line_number", "person_id", "member_id", "payer", "plan", "dispensing_date",
                       "ndc_code", "days_supply", "paid_date", "paid_amount"},
    "ed_visit": {"visit_id", "member_id", "arrival_datetime"},
    "care_management": {"person_id", "program", "status", "status_date"},
    "sdoh_screening": {"person_id", "screening_date", "instrument", "domain", "result"},
}


@pytest.mark.parametrize("table", TABLES)
def test_contract_is_valid_odcs_v3(table):
    doc = yaml.safe_load((default_contracts_dir() / f"{table}.yaml").read_text())
    errors = [e.message for e in jsonschema.Draft202012Validator(ODCS_SCHEMA).iter_errors(doc)]
    assert errors == []
    assert doc["kind"] == "DataContract" and doc["apiVersion"].startswith("v3")


@pytest.mark.parametrize("table", TABLES)
def test_required_columns_match_inputs_md(table):
    assert set(load_contract(table).required_columns) == REQUIRED[table]


@pytest.mark.parametrize("table", TABLES)
def test_every_rule_has_a_known_severity_and_description(table):
    c = load_contract(table)
    assert c.rules
    for r in c.rules:
        assert r.severity in SEVERITIES
        assert r.description.strip(), r.name
    # the delivery rules every table shares
    assert {"readable", "required_columns", "manifest_rows", "bad_row_share"} <= {
        r.name for r in c.rules if r.severity == "delivery"
    }


def test_rules_the_issue_asks_for_are_declared():
    c = load_contracts()
    names = {t: set(c[t].rule_names()) for t in TABLES}
    assert {"icd10cm_billable", "npi_check_digit", "date_order", "date_range", "paid_not_negative", "unique_key",
            "unknown_person", "service_in_enrollment", "already_delivered", "duplicate_row", "enum", "type"} <= names["medical_claim"]
    assert "ndc_format" in names["pharmacy_claim"]
    assert "already_delivered" not in names["eligibility"]  # a snapshot repeats itself every month
    warn = {r.name for r in c["medical_claim"].rules if r.severity == "warn"}
    assert warn == {"service_in_enrollment"}


@pytest.mark.parametrize("table", TABLES)
def test_compiles_to_a_gx_suite_whose_expectations_name_their_rule(table):
    c = load_contract(table)
    suite = compile_suite(c, "2025-11")
    assert suite.expectations
    for e in suite.expectations:
        assert e.meta["rule"] in c.rule_names()
        assert e.meta["severity"] in ("row", "warn")
    kinds = {type(e).__name__ for e in suite.expectations}
    assert "ExpectColumnValuesToNotBeNull" in kinds
    # the frame ingest builds carries every column the suite reads
    cols = set(gx_columns(c))
    for e in suite.expectations:
        for key in ("column", "column_A", "column_B"):
            value = getattr(e, key, None)
            if value:
                assert value in cols


def test_date_placeholders_take_the_delivery_month():
    suite = compile_suite(load_contract("medical_claim"), "2024-02")
    maxes = {str(getattr(e, "max_value", "")) for e in suite.expectations if e.meta["rule"] == "date_range"}
    assert any(m.startswith("2024-02-29") for m in maxes)


def test_a_broken_contract_names_file_and_problem(tmp_path):
    text = (default_contracts_dir() / "sdoh_screening.yaml").read_text().replace("      severity: row", "      severity: fatal", 1)
    (tmp_path / "sdoh_screening.yaml").write_text(text)
    with pytest.raises(ContractError, match=r"sdoh_screening\.yaml.*severity 'fatal'"):
        load_contract("sdoh_screening", tmp_path)
