"""Shared fixtures for the synthetic-plan tests, and helpers that read deliveries back as text.

pytest runs with --import-mode=importlib, so test modules cannot import each other: the helpers
live here and reach the tests through the ``sf`` fixture.
"""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import io
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from riskstrat.synth import PlanSpec, generate_plan

# Large enough that the published-rate checks are stable (about 1,600 children, 2,000 child-years),
# small enough to generate in seconds.
MAIN = PlanSpec(members=3000, months=18, end="2025-11", seed=11, defect_rate=0.0)
DEFECTS = PlanSpec(members=1200, months=8, end="2025-11", seed=5, defect_rate=0.02)

TABLES = ("eligibility", "medical_claim", "pharmacy_claim", "ed_visit", "care_management", "sdoh_screening")

COLUMNS = {
    "eligibility": ["person_id", "member_id", "subscriber_id", "subscriber_relation", "gender", "race", "ethnicity",
                    "birth_date", "death_date", "enrollment_start_date", "enrollment_end_date", "payer", "payer_type",
                    "plan", "aid_category", "first_name", "last_name", "address", "city", "state", "zip_code", "phone",
                    "data_source", "file_name", "file_date"],
    "medical_claim": ["claim_id", "claim_line_number", "claim_type", "person_id", "member_id", "payer", "plan",
                      "claim_start_date", "claim_end_date", "claim_line_start_date", "claim_line_end_date",
                      "admission_date", "discharge_date", "admit_type_code", "admit_source_code",
                      "discharge_disposition_code", "place_of_service_code", "bill_type_code", "revenue_center_code",
                      "hcpcs_code", "hcpcs_modifier_1", "rendering_npi", "billing_npi", "facility_npi", "paid_date",
                      "paid_amount", "allowed_amount", "charge_amount", "diagnosis_code_type"]
                     + [f"diagnosis_code_{i}" for i in range(1, 26)] + ["claim_status", "adjustment_sequence"],
    "pharmacy_claim": ["claim_id", "claim_line_number", "person_id", "member_id", "payer", "plan",
                       "prescribing_provider_npi", "dispensing_provider_npi", "dispensing_date", "ndc_code", "atc_code",
                       "quantity", "days_supply", "refills", "paid_date", "paid_amount", "allowed_amount",
                       "claim_status", "adjustment_sequence"],
    "ed_visit": ["visit_id", "person_id", "member_id", "facility_npi", "facility_name", "arrival_datetime",
                 "discharge_datetime", "chief_complaint", "diagnosis_code_1", "diagnosis_code_2", "diagnosis_code_3",
                 "disposition", "message_datetime"],
    "care_management": ["person_id", "program", "status", "status_date", "agency", "care_coordinator_id"],
    "sdoh_screening": ["person_id", "screening_date", "instrument", "domain", "result"],
}
REQUIRED = {
    "eligibility": ["person_id", "member_id", "gender", "birth_date", "enrollment_start_date", "payer", "payer_type", "plan"],
    "medical_claim": ["claim_id", "claim_line_number", "claim_type", "person_id", "member_id", "payer", "plan",
                      "claim_start_date", "claim_end_date", "paid_date", "paid_amount", "diagnosis_code_type",
                      "diagnosis_code_1"],
    "pharmacy_claim": ["claim_id", "claim_line_number", "person_id", "member_id", "payer", "plan", "dispensing_date",
                       "ndc_code", "days_supply", "paid_date", "paid_amount"],
    "ed_visit": ["visit_id", "member_id", "arrival_datetime"],
    "care_management": ["person_id", "program", "status", "status_date"],
    "sdoh_screening": ["person_id", "screening_date", "instrument", "domain", "result"],
}
ENUMS = {
    ("eligibility", "subscriber_relation"): {"self", "child", "spouse", "other"},
    ("eligibility", "gender"): {"male", "female", "unknown"},
    ("eligibility", "ethnicity"): {"hispanic", "not hispanic", "unknown"},
    ("eligibility", "race"): {"american indian or alaska native", "asian", "black or african american",
                              "native hawaiian or other pacific islander", "white", "other race", "unknown"},
    ("eligibility", "payer_type"): {"medicaid", "chip", "commercial", "medicare"},
    ("eligibility", "aid_category"): {"tanf", "ssi_disabled", "foster_care", "adoption_assistance", "chip", "other"},
    ("medical_claim", "claim_type"): {"professional", "institutional"},
    ("medical_claim", "diagnosis_code_type"): {"icd-10-cm"},
    ("medical_claim", "claim_status"): {"paid", "denied", "reversed"},
    ("pharmacy_claim", "claim_status"): {"paid", "denied", "reversed"},
    ("ed_visit", "disposition"): {"discharged", "admitted", "transferred", "left_without_being_seen", "expired"},
    ("care_management", "program"): {"stronger_together", "cares", "wraparound", "life_services", "other"},
    ("care_management", "status"): {"referred", "enrolled", "declined", "unable_to_reach", "discharged"},
    ("sdoh_screening", "instrument"): {"prapare", "ahc_hrsn", "cans", "other"},
    ("sdoh_screening", "domain"): {"housing_instability", "food_insecurity", "transportation", "utilities",
                                   "interpersonal_safety", "caregiver_stress", "education", "employment"},
    ("sdoh_screening", "result"): {"positive", "negative", "declined"},
}
DATE_COLUMNS = {"birth_date", "death_date", "enrollment_start_date", "enrollment_end_date", "file_date",
                "claim_start_date", "claim_end_date", "claim_line_start_date", "claim_line_end_date", "admission_date",
                "discharge_date", "paid_date", "dispensing_date", "status_date", "screening_date"}
TIMESTAMP_COLUMNS = {"arrival_datetime", "discharge_datetime", "message_datetime"}
INT_COLUMNS = {"claim_line_number", "quantity", "days_supply", "refills", "adjustment_sequence"}
DECIMAL_COLUMNS = {"paid_amount", "allowed_amount", "charge_amount"}


def find_file(folder: Path, table: str) -> Path:
    hits = [p for p in folder.iterdir() if p.name.split(".")[0] == table]
    assert len(hits) == 1, (folder, table, hits)
    return hits[0]


def _text(v) -> str | None:
    if v is None:
        return None
    if isinstance(v, dt.datetime):
        return v.strftime("%Y-%m-%dT%H:%M:%S")
    if isinstance(v, dt.date):
        return v.isoformat()
    if isinstance(v, float):
        return repr(v)
    return str(v)


def read_rows(path: Path) -> tuple[list[str], list[dict], str | None]:
    """(header, rows as dicts of text or None, delimiter or None for parquet)."""
    if path.name.endswith(".parquet"):
        t = pq.read_table(path)
        rows = [{k: _text(v) for k, v in r.items()} for r in t.to_pylist()]
        return t.column_names, rows, None
    raw = path.read_bytes()
    if path.name.endswith(".gz"):
        raw = gzip.decompress(raw)
    text = raw.decode("utf-8")
    header_line = text.split("\n", 1)[0]
    delim = "|" if header_line.count("|") > header_line.count(",") else ","
    reader = csv.reader(io.StringIO(text), delimiter=delim)
    header = next(reader)
    rows = [{k: (v if v != "" else None) for k, v in zip(header, r)} for r in reader]
    return header, rows, delim


def norm(row: dict) -> tuple:
    """A row as comparable values: numbers as floats (Parquet 100.0 and CSV 100 are one value)."""
    out = []
    for v in row.values():
        try:
            out.append(float(v))
        except (TypeError, ValueError):
            out.append(v)
    return tuple(out)


def npi_ok(npi: str) -> bool:
    if not (len(npi) == 10 and npi.isdigit()):
        return False
    digits = [int(c) for c in "80840" + npi]
    total = 0
    for i, d in enumerate(reversed(digits)):
        if i % 2 == 1:
            d *= 2
            d = d - 9 if d > 9 else d
        total += d
    return total % 10 == 0


def number_ok(v: str) -> bool:
    try:
        float(v)
        return True
    except ValueError:
        return False


@pytest.fixture(scope="session")
def sf():
    """These helpers and constants, as a module."""
    return sys.modules[__name__]


@pytest.fixture(scope="session")
def plan(tmp_path_factory) -> Path:
    w = tmp_path_factory.mktemp("plan")
    generate_plan(w, MAIN)
    return w


@pytest.fixture(scope="session")
def defect_plan(tmp_path_factory) -> Path:
    w = tmp_path_factory.mktemp("defects")
    generate_plan(w, DEFECTS)
    return w
