"""Realistic bad input, injected at about ``defect_rate`` of delivered rows and listed exactly.

Every defect row carries one defect of one kind (names fixed: the ingest contract maps them to
rules); clean rows stay clean. In-place defects change one cell; ``duplicate_line`` appends an
exact copy of a clean row of the same file; ``resent_rows`` appends the whole previous file of
an incremental table (a plan re-sending last month's batch; that earlier file is kept
defect-free so the copy is identical and carries only this one defect).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from riskstrat.synth.spec import PlanSpec
from riskstrat.synth.writer import INCREMENTAL

KINDS = ("invalid_icd", "truncated_icd", "impossible_date", "negative_paid", "duplicate_line", "unknown_person",
         "malformed_number", "missing_required", "bad_npi", "bad_ndc", "bad_enum", "resent_rows")
# Codes a plan might send that are not ICD-10-CM: ICD-9 codes, which never start with a letter.
NOT_ICD10 = ("4019", "49390", "31401", "2967", "78060", "3659")
MALFORMED = ("N/A", "12.3.4", "1O5.00", "$1,204.50", "--")
UNKNOWN_PERSON_BASE = 95_000_000

PER_TABLE = {
    "eligibility": ("impossible_date", "missing_required", "bad_enum", "duplicate_line"),
    "medical_claim": ("invalid_icd", "truncated_icd", "impossible_date", "negative_paid", "duplicate_line",
                      "unknown_person", "malformed_number", "missing_required", "bad_npi", "bad_enum"),
    "pharmacy_claim": ("bad_ndc", "impossible_date", "negative_paid", "duplicate_line", "unknown_person",
                       "malformed_number", "missing_required", "bad_npi", "bad_enum"),
    "ed_visit": ("invalid_icd", "truncated_icd", "impossible_date", "duplicate_line", "unknown_person",
                 "missing_required", "bad_npi", "bad_enum"),
    "care_management": ("impossible_date", "missing_required", "bad_enum", "unknown_person", "duplicate_line"),
    "sdoh_screening": ("impossible_date", "missing_required", "bad_enum", "unknown_person", "duplicate_line"),
}
REQUIRED = {
    "eligibility": ("person_id", "member_id", "gender", "birth_date", "enrollment_start_date", "payer", "payer_type", "plan"),
    "medical_claim": ("claim_id", "claim_line_number", "claim_type", "person_id", "member_id", "claim_start_date",
                      "claim_end_date", "paid_date", "paid_amount", "diagnosis_code_1"),
    "pharmacy_claim": ("claim_id", "person_id", "member_id", "dispensing_date", "ndc_code", "days_supply", "paid_date",
                       "paid_amount"),
    "ed_visit": ("visit_id", "member_id", "arrival_datetime"),
    "care_management": ("person_id", "program", "status", "status_date"),
    "sdoh_screening": ("person_id", "screening_date", "instrument", "domain", "result"),
}
BAD_ENUM = {
    "eligibility": (("gender", ("M", "F")), ("payer_type", ("mcaid", "MEDICAID")), ("aid_category", ("TANF", "foster"))),
    "medical_claim": (("claim_type", ("prof", "inst")), ("claim_status", ("PD", "approved"))),
    "pharmacy_claim": (("claim_status", ("PD", "rejected")),),
    "ed_visit": (("disposition", ("home", "DC")),),
    "care_management": (("status", ("active", "closed")),),
    "sdoh_screening": (("result", ("yes", "no")), ("instrument", ("phq9",)), ("domain", ("money",))),
}
NUMERIC = {
    "medical_claim": ("paid_amount", "allowed_amount", "charge_amount", "claim_line_number"),
    "pharmacy_claim": ("quantity", "days_supply", "paid_amount"),
}
NPI_COLUMNS = {
    "medical_claim": ("rendering_npi", "billing_npi", "facility_npi"),
    "pharmacy_claim": ("prescribing_provider_npi", "dispensing_provider_npi"),
    "ed_visit": ("facility_npi",),
}
SCHEMA = pa.schema([("table", pa.string()), ("delivery_month", pa.string()), ("file", pa.string()),
                    ("row", pa.int64()), ("column", pa.string()), ("kind", pa.string())])


def _nonbillable_category(code: str | None) -> bool:
    # Imported here: simple-icd-10-cm parses its code table on import (seconds), and only a plan
    # with defects needs it.
    import simple_icd_10_cm as icd

    if not code or len(code.replace(".", "")) <= 3:
        return False
    cat = code.replace(".", "")[:3]
    return icd.is_valid_item(cat) and not icd.is_leaf(cat)


class DefectPlan:
    """Decides, injects and records the defects of a plan."""

    def __init__(self, spec: PlanSpec, rng: np.random.Generator) -> None:
        self.rate = spec.defect_rate
        self.rng = rng
        self.records: list[tuple] = []
        self.resend: set[tuple[str, int]] = set()
        if self.rate > 0 and spec.months >= 2:
            n = max(1, spec.months // 12)
            for _ in range(n * 4):
                if len(self.resend) >= n:
                    break
                t = INCREMENTAL[int(rng.integers(0, len(INCREMENTAL)))]
                k = int(rng.integers(1, spec.months))
                if not any(tt == t and abs(kk - k) <= 1 for tt, kk in self.resend):
                    self.resend.add((t, k))
        self.keep_clean = {(t, k - 1) for t, k in self.resend}
        self.previous: dict[str, pa.Table] = {}

    @property
    def count(self) -> int:
        return len(self.records)

    def table(self) -> pa.Table:
        """The defects listed so far, in the schema of truth/defects.parquet."""
        cols = list(zip(*self.records)) if self.records else [[] for _ in SCHEMA]
        return pa.table([pa.array(list(c), f.type) for c, f in zip(cols, SCHEMA)], schema=SCHEMA)

    def apply(self, table: str, label: str, k: int, name: str, fmt: str, tbl: pa.Table) -> pa.Table:
        """Inject this file's defects (format-aware) and record each one; returns the table to write."""
        if self.rate <= 0:
            return tbl
        if (table, k) in self.keep_clean:
            self.previous[table] = tbl
            return tbl
        rng = self.rng
        n = tbl.num_rows
        nd = int(rng.binomial(n, self.rate)) if n else 0
        kinds = [x for x in PER_TABLE[table] if fmt != "parquet" or x != "malformed_number"]
        assigned = rng.choice(len(kinds), size=nd) if nd else np.zeros(0, int)
        used = np.zeros(n, bool)
        edits: dict[str, tuple[list, list, bool]] = {}   # column -> (rows, values, as_string)
        recs = []

        def free(cands: np.ndarray, want: int) -> np.ndarray:
            c = cands[~used[cands]]
            if len(c) == 0 or want == 0:
                return np.zeros(0, int)
            pick = rng.choice(c, size=min(want, len(c)), replace=False)
            used[pick] = True
            return np.sort(pick)

        def spread(rows: np.ndarray, targets: tuple) -> list[tuple]:
            """Deal ``rows`` out at random over ``targets`` (columns, or (column, values) pairs)."""
            which = rng.integers(0, len(targets), len(rows))
            return [(target, rows[which == j]) for j, target in enumerate(targets)]

        def edit(col, rows, values, kind, as_string=False):
            r, v, s = edits.setdefault(col, ([], [], False))
            r.extend(int(x) for x in rows)
            v.extend(values)
            edits[col] = (r, v, s or as_string)
            recs.extend((int(x), col, kind) for x in rows)

        allrows = np.arange(n)
        dup_rows = np.zeros(0, int)
        for ki, kind in enumerate(kinds):
            want = int((assigned == ki).sum())
            if want == 0:
                continue
            if kind == "duplicate_line":
                dup_rows = free(allrows, want)
            elif kind == "invalid_icd":
                rows = free(allrows, want)
                edit("diagnosis_code_1", rows, [NOT_ICD10[i % len(NOT_ICD10)] for i in rng.integers(0, 99, len(rows))], kind)
            elif kind == "truncated_icd":
                col = tbl.column("diagnosis_code_1").combine_chunks()
                codes = col.dictionary_encode()
                flags = np.array([_nonbillable_category(c) for c in codes.dictionary.to_pylist()] + [False])
                ind = codes.indices.fill_null(len(flags) - 1).to_numpy(zero_copy_only=False)
                rows = free(np.flatnonzero(flags[ind]), want)
                vals = col.take(pa.array(rows, pa.int64())).to_pylist()
                edit("diagnosis_code_1", rows, [v.replace(".", "")[:3] for v in vals], kind)
            elif kind == "impossible_date":
                rows = free(allrows, want)
                self._impossible_date(table, tbl, rows, edit, label)
            elif kind == "negative_paid":
                st = np.asarray(pc.equal(tbl.column("claim_status"), "paid").to_numpy(zero_copy_only=False), bool)
                paid = tbl.column("paid_amount").to_numpy()
                rows = free(np.flatnonzero(st & (paid > 0)), want)
                edit("paid_amount", rows, [-float(paid[r]) for r in rows], kind)
            elif kind == "unknown_person":
                rows = free(allrows, want)
                edit("person_id", rows, [f"P{UNKNOWN_PERSON_BASE + int(x)}" for x in rng.integers(0, 4_000_000, len(rows))], kind)
            elif kind == "malformed_number":
                for col, sel in spread(free(allrows, want), NUMERIC[table]):
                    edit(col, sel, [MALFORMED[i] for i in rng.integers(0, len(MALFORMED), len(sel))], kind, as_string=True)
            elif kind == "missing_required":
                for col, sel in spread(free(allrows, want), REQUIRED[table]):
                    edit(col, sel, [None] * len(sel), kind)
            elif kind == "bad_npi":
                cols = NPI_COLUMNS[table]
                col = cols[int(rng.integers(0, len(cols)))]
                arr = tbl.column(col).combine_chunks()
                rows = free(np.flatnonzero(pc.is_valid(arr).to_numpy(zero_copy_only=False)), want)
                vals = arr.take(pa.array(rows, pa.int64())).to_pylist()
                edit(col, rows, [v[:-1] + str((int(v[-1]) + 1 + int(rng.integers(0, 8))) % 10) for v in vals], kind)
            elif kind == "bad_ndc":
                rows = free(allrows, want)
                vals = tbl.column("ndc_code").combine_chunks().take(pa.array(rows, pa.int64())).to_pylist()
                edit("ndc_code", rows, [v[1:] if i % 2 else v[:9] for i, v in enumerate(vals)], kind)
            elif kind == "bad_enum":
                for (col, values), sel in spread(free(allrows, want), BAD_ENUM[table]):
                    edit(col, sel, [values[i % len(values)] for i in range(len(sel))], kind)

        for col, (rows, values, as_string) in edits.items():
            if not rows:
                continue
            arr = tbl.column(col).combine_chunks()
            if as_string:
                arr = arr.cast(pa.string())
            order = np.argsort(rows)
            mask = np.zeros(n, bool)
            mask[np.asarray(rows)] = True
            vals = [values[i] for i in order]
            if as_string:
                vals = pa.array([v if v is None or isinstance(v, str) else pa.scalar(v).cast(pa.string()).as_py()
                                 for v in vals], pa.string())
            elif pa.types.is_date(arr.type):
                vals = pa.array(vals, pa.int32()).view(pa.date32())
            elif pa.types.is_timestamp(arr.type):
                vals = pa.array(vals, pa.int64()).view(arr.type)
            else:
                vals = pa.array(vals, arr.type)
            arr = pc.replace_with_mask(arr, pa.array(mask), vals)
            tbl = tbl.set_column(tbl.column_names.index(col), col, arr)
        for r, col, kind in recs:
            self.records.append((table, label, name, r + 1, col, kind))
        parts = [tbl]
        if len(dup_rows):
            parts.append(tbl.take(pa.array(dup_rows)))
            for j in range(len(dup_rows)):
                self.records.append((table, label, name, n + j + 1, None, "duplicate_line"))
        if (table, k) in self.resend and table in self.previous:
            prev = self.previous.pop(table)
            prev = pa.table([prev.column(c).cast(tbl.schema.field(c).type) for c in tbl.column_names], schema=tbl.schema)
            base = n + len(dup_rows)
            parts.append(prev)
            for j in range(prev.num_rows):
                self.records.append((table, label, name, base + j + 1, None, "resent_rows"))
        return pa.concat_tables(parts) if len(parts) > 1 else tbl

    def _impossible_date(self, table: str, tbl: pa.Table, rows: np.ndarray, edit, label: str) -> None:
        rng = self.rng

        def day(col: str) -> np.ndarray:
            return tbl.column(col).combine_chunks().view(pa.int32()).to_numpy(zero_copy_only=False)

        month_end = int(np.datetime64(label, "M").astype("datetime64[D]").astype(np.int64)) + 31
        if table == "medical_claim":
            start = day("claim_start_date")
            half = len(rows) // 2
            a, b = rows[:half], rows[half:]
            edit("claim_end_date", a, [int(start[r] - rng.integers(1, 20)) for r in a], "impossible_date")
            edit("paid_date", b, [int(start[r] - rng.integers(1, 30)) for r in b], "impossible_date")
        elif table == "pharmacy_claim":
            disp = day("dispensing_date")
            edit("paid_date", rows, [int(disp[r] - rng.integers(1, 30)) for r in rows], "impossible_date")
        elif table == "ed_visit":
            arr = tbl.column("arrival_datetime").combine_chunks().view(pa.int64()).to_numpy(zero_copy_only=False)
            edit("discharge_datetime", rows, [int(arr[r] - rng.integers(1800, 18000)) for r in rows], "impossible_date")
        elif table == "eligibility":
            start = day("enrollment_start_date")
            half = len(rows) // 2
            a, b = rows[:half], rows[half:]
            edit("birth_date", a, [int(start[r] + rng.integers(10, 400)) for r in a], "impossible_date")
            edit("birth_date", b, [int(month_end + rng.integers(30, 900)) for _ in b], "impossible_date")
        else:
            col = "status_date" if table == "care_management" else "screening_date"
            edit(col, rows, [int(month_end + rng.integers(30, 400)) for _ in rows], "impossible_date")
