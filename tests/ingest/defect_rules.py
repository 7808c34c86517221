"""Which contract rule must catch each kind of defect the synthetic plan injects.

The names on the left are ``riskstrat.synth`` defect kinds (truth/defects.parquet); on the
right, the rule names of ``data_contracts/*.yaml`` a row of that kind must be quarantined under
(any one of them; ``rules`` of a quarantine row lists every rule it broke).
"""

KIND_TO_RULES: dict[str, tuple[str, ...]] = {
    "invalid_icd": ("icd10cm_billable",),
    "truncated_icd": ("icd10cm_billable",),  # a category such as F32 exists but is not billable
    "impossible_date": ("date_order", "date_range"),
    "negative_paid": ("paid_not_negative",),
    "duplicate_line": ("duplicate_row",),
    "unknown_person": ("unknown_person",),
    "malformed_number": ("type",),
    "missing_required": ("required",),
    "bad_npi": ("npi_check_digit",),
    "bad_ndc": ("ndc_format",),
    "bad_enum": ("enum",),
    "resent_rows": ("already_delivered",),
}
