"""Hand-built lakes: small member histories with known answers, written in the docs/lake.md layout.

Every table gets every input column of inputs.md with its lake type, so the feature SQL reads
these files exactly as it reads what ingest writes. Rows name only the columns a test cares
about; the rest are null (or the contract's default).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

S, D, T, I, F = pa.string(), pa.date32(), pa.timestamp("us"), pa.int64(), pa.float64()
DX25 = [(f"diagnosis_code_{i}", S) for i in range(1, 26)]
LINEAGE = [("source_file", S), ("source_row", I)]

SCHEMAS: dict[str, list[tuple[str, pa.DataType]]] = {
    "eligibility": [
        ("person_id", S), ("member_id", S), ("subscriber_id", S), ("subscriber_relation", S), ("gender", S),
        ("race", S), ("ethnicity", S), ("birth_date", D), ("death_date", D), ("enrollment_start_date", D),
        ("enrollment_end_date", D), ("payer", S), ("payer_type", S), ("plan", S), ("aid_category", S),
        ("first_name", S), ("last_name", S), ("address", S), ("city", S), ("state", S), ("zip_code", S),
        ("phone", S), ("data_source", S), ("file_name", S), ("file_date", D),
    ] + LINEAGE,
    "medical_claim": [
        ("claim_id", S), ("claim_line_number", I), ("claim_type", S), ("person_id", S), ("member_id", S),
        ("payer", S), ("plan", S), ("claim_start_date", D), ("claim_end_date", D), ("claim_line_start_date", D),
        ("claim_line_end_date", D), ("admission_date", D), ("discharge_date", D), ("admit_type_code", S),
        ("admit_source_code", S), ("discharge_disposition_code", S), ("place_of_service_code", S),
        ("bill_type_code", S), ("revenue_center_code", S), ("hcpcs_code", S), ("hcpcs_modifier_1", S),
        ("rendering_npi", S), ("billing_npi", S), ("facility_npi", S), ("paid_date", D), ("paid_amount", F),
        ("allowed_amount", F), ("charge_amount", F), ("diagnosis_code_type", S),
    ] + DX25 + [("claim_status", S), ("adjustment_sequence", I)] + LINEAGE,
    "pharmacy_claim": [
        ("claim_id", S), ("claim_line_number", I), ("person_id", S), ("member_id", S), ("payer", S), ("plan", S),
        ("prescribing_provider_npi", S), ("dispensing_provider_npi", S), ("dispensing_date", D), ("ndc_code", S),
        ("atc_code", S), ("quantity", I), ("days_supply", I), ("refills", I), ("paid_date", D), ("paid_amount", F),
        ("allowed_amount", F), ("claim_status", S), ("adjustment_sequence", I),
    ] + LINEAGE,
    "ed_visit": [
        ("visit_id", S), ("person_id", S), ("member_id", S), ("facility_npi", S), ("facility_name", S),
        ("arrival_datetime", T), ("discharge_datetime", T), ("chief_complaint", S), ("diagnosis_code_1", S),
        ("diagnosis_code_2", S), ("diagnosis_code_3", S), ("disposition", S), ("message_datetime", T),
    ] + LINEAGE,
    "care_management": [
        ("person_id", S), ("program", S), ("status", S), ("status_date", D), ("agency", S),
        ("care_coordinator_id", S),
    ] + LINEAGE,
    "sdoh_screening": [
        ("person_id", S), ("screening_date", D), ("instrument", S), ("domain", S), ("result", S),
    ] + LINEAGE,
}
DEFAULTS = {
    "medical_claim": {"claim_line_number": 1, "claim_type": "professional", "payer": "p", "plan": "p",
                      "diagnosis_code_type": "icd-10-cm", "claim_status": "paid", "adjustment_sequence": 0,
                      "paid_amount": 100.0},
    "pharmacy_claim": {"claim_line_number": 1, "payer": "p", "plan": "p", "claim_status": "paid",
                       "adjustment_sequence": 0, "days_supply": 30, "paid_amount": 50.0,
                       "ndc_code": "00000000000"},
    "eligibility": {"payer": "p", "payer_type": "medicaid", "plan": "p", "gender": "female",
                    "race": "unknown", "aid_category": "tanf"},
}


def _value(v):
    if isinstance(v, str) and len(v) == 10 and v[4] == "-" and v[7] == "-":
        return date.fromisoformat(v)
    if isinstance(v, str) and "T" in v and v[4] == "-":
        return datetime.fromisoformat(v)
    return v


class Lake:
    """Collects rows per (table, delivery month) and writes them as lake/<table>/delivery_month=M/part-0.parquet."""

    def __init__(self) -> None:
        self.rows: dict[tuple[str, str], list[dict]] = defaultdict(list)

    def add(self, table: str, month: str, **row) -> None:
        full = dict(DEFAULTS.get(table, {}))
        full.update({k: _value(v) for k, v in row.items()})
        if "member_id" in dict(SCHEMAS[table]) and full.get("member_id") is None:
            full["member_id"] = full.get("person_id")
        if table == "medical_claim":
            full.setdefault("claim_start_date", full.get("claim_line_start_date"))
            full.setdefault("claim_end_date", full.get("claim_start_date"))
            full.setdefault("paid_date", full["claim_start_date"])
        if table == "pharmacy_claim":
            full.setdefault("paid_date", full.get("dispensing_date"))
        unknown = set(full) - set(dict(SCHEMAS[table]))
        if unknown:
            raise KeyError(f"{table} has no column(s) {sorted(unknown)}")
        self.rows[(table, month)].append(full)

    def enrol(self, person_id: str, months: list[str], *, start: str, end: str | None = None,
              birth_date: str = "2015-06-15", **extra) -> None:
        """One enrolment span, repeated in the full eligibility snapshot of each month listed."""
        for month in months:
            self.add("eligibility", month, person_id=person_id, birth_date=birth_date,
                     enrollment_start_date=start, enrollment_end_date=end, **extra)

    def claim(self, month: str, claim_id: str, person_id: str, service_date: str, **row) -> None:
        self.add("medical_claim", month, claim_id=claim_id, person_id=person_id, claim_start_date=service_date,
                 **row)

    def write(self, root: Path, *, through: str | None = None) -> Path:
        """Write the lake under root/lake (only deliveries up to ``through`` when given)."""
        months = sorted({m for (_, m) in self.rows})
        for table, schema in SCHEMAS.items():
            arrow_schema = pa.schema(schema)
            wrote = False
            for month in months:
                if through and month > through:
                    continue
                rows = self.rows.get((table, month))
                if not rows:
                    continue
                folder = root / "lake" / table / f"delivery_month={month}"
                folder.mkdir(parents=True, exist_ok=True)
                cols = {name: [r.get(name) for r in rows] for name, _ in schema}
                for i, r in enumerate(rows, start=1):
                    cols["source_row"][i - 1] = i
                    cols["source_file"][i - 1] = f"{table}.csv"
                pq.write_table(pa.table(cols, schema=arrow_schema), folder / "part-0.parquet")
                wrote = True
            if not wrote:  # an empty, typed partition so the table exists
                folder = root / "lake" / table / f"delivery_month={months[0]}"
                folder.mkdir(parents=True, exist_ok=True)
                pq.write_table(arrow_schema.empty_table(), folder / "part-0.parquet")
        return root

