"""Turn the generator's numpy columns into the tables of inputs.md and write them as files.

Files rotate through .csv / .csv.gz / .parquet and both CSV delimiters by (month index + table
index), so every reader path is exercised by every table over a plan. Output is byte-stable:
gzip headers carry mtime 0, Parquet holds no timestamps, nothing reads the clock.
"""

from __future__ import annotations

import gzip
import io
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from riskstrat.core.fingerprint import sha256_bytes
from riskstrat.ingest.contracts import TABLES
from riskstrat.synth import reference as ref
from riskstrat.synth.codes import Codes, Vocab
from riskstrat.synth.population import FOSTER, Population
from riskstrat.synth.providers import Providers

INCREMENTAL = ("medical_claim", "pharmacy_claim", "ed_visit", "sdoh_screening")
FORMATS = (("csv", ","), ("csv.gz", "|"), ("parquet", None), ("csv", "|"), ("csv.gz", ","))
N_DX_COLUMNS = 25


def file_format(table: str, month_index: int) -> tuple[str, str | None]:
    """The (extension, CSV delimiter) of a table's file in the delivery of month index k."""
    return FORMATS[(month_index + TABLES.index(table)) % len(FORMATS)]


def _enum(values, idx) -> pa.Array:
    v = Vocab()
    v.values = list(values)
    return v.arrow(np.asarray(idx))


# Null date in day-number arrays (dates before 1970 are negative, so -1 cannot mean null).
NO_DATE = np.iinfo(np.int32).min


def _date(days: np.ndarray) -> pa.Array:
    days = np.asarray(days, dtype=np.int32)
    mask = days == NO_DATE
    return pa.array(days, pa.int32(), mask=mask if mask.any() else None).view(pa.date32())


def _ts(seconds: np.ndarray) -> pa.Array:
    return pa.array(np.asarray(seconds, np.int64), pa.int64()).view(pa.timestamp("s"))


def _ids(prefix: str, numbers: np.ndarray, mask: np.ndarray | None = None) -> pa.Array:
    s = pa.array(np.asarray(numbers, np.int64), pa.int64()).cast(pa.string())
    out = pc.binary_join_element_wise(pa.scalar(prefix), s, "")
    if mask is not None and mask.any():
        out = pc.if_else(pa.array(mask), pa.nulls(len(out), pa.string()), out)
    return out


def _const(value: str, n: int) -> pa.Array:
    return pa.DictionaryArray.from_arrays(pa.array(np.zeros(n, np.int32)), pa.array([value])).cast(pa.string())


def _money(x: np.ndarray) -> pa.Array:
    return pa.array(np.round(np.asarray(x, np.float64), 2), pa.float64())


def person_ids(pop: Population, idx: np.ndarray) -> pa.Array:
    """person_id strings for person indices."""
    return _ids("P", pop.person_num[idx])


def member_ids(pop: Population, member_idx: np.ndarray) -> pa.Array:
    """member_id strings for member-id indices."""
    return _ids("", pop.member_num[member_idx])


class EligibilitySnapshots:
    """Full eligibility snapshots. Spans are ordered by the month they begin, so the snapshot
    of month m is a prefix of one master table (built once) with the end and death dates
    masked to what was known at m."""

    def __init__(self, pop: Population) -> None:
        order = np.lexsort((pop.span_person, pop.span_start_m))
        self.order = order
        self.start_m = pop.span_start_m[order]
        self.end_m = pop.span_end_m[order]
        self.end_day = pop.span_end_day[order]
        p = pop.span_person[order]
        self.death_m = pop.death_month[p]
        self.death_day = pop.death_day[p]
        self.master = _eligibility_master(pop, order)
        self.month_end = pop.month_end

    def snapshot(self, m: int, file_name: str) -> pa.Table:
        k = int(np.searchsorted(self.start_m, m, side="right"))
        t = self.master.slice(0, k)
        end = np.where(self.end_m[:k] >= m, NO_DATE, self.end_day[:k])
        # A death reaches the plan the month after it happens.
        death = np.where(self.death_m[:k] < m, self.death_day[:k], NO_DATE)
        t = t.set_column(t.column_names.index("death_date"), "death_date", _date(death))
        t = t.set_column(t.column_names.index("enrollment_end_date"), "enrollment_end_date", _date(end))
        t = t.set_column(t.column_names.index("file_name"), "file_name", _const(file_name, k))
        return t.set_column(t.column_names.index("file_date"), "file_date", _date(np.full(k, self.month_end[m])))


def _eligibility_master(pop: Population, keep: np.ndarray) -> pa.Table:
    p = pop.span_person[keep]
    n = len(keep)
    hh = pop.hh[p]
    end = np.full(n, NO_DATE)
    death = np.full(n, NO_DATE)
    file_name = ""
    m = 0
    foster = pop.hh_kind[p] == FOSTER
    sub = pc.if_else(pa.array(foster), _ids("DFCS", pop.hh_case[hh]), _ids("C", pop.hh_case[hh]))
    female_first = _enum(ref.FIRST_FEMALE, pop.first_name[p])
    male_first = _enum(ref.FIRST_MALE, pop.first_name[p])
    first = pc.if_else(pa.array(pop.sex[p] == 1), male_first, female_first)
    street = _enum(ref.STREETS, pop.hh_street[hh])
    address = pc.binary_join_element_wise(pa.array(pop.hh_street_no[hh]).cast(pa.string()), street, " ")
    city = pop.hh_city[hh]
    zip3 = np.array([int(c[1]) for c in ref.CITIES])[city]
    zipc = pa.array(zip3 * 100 + pop.hh_zip[hh]).cast(pa.string())
    area = _enum([c[2] for c in ref.CITIES], city)
    last4 = pc.utf8_slice_codeunits(pa.array(100 + pop.hh_phone[hh].astype(np.int64)).cast(pa.string()), 1)
    phone = pc.binary_join_element_wise(pa.scalar("("), area, pa.scalar(") 555-01"), last4, "")
    return pa.table({
        "person_id": person_ids(pop, p),
        "member_id": member_ids(pop, pop.span_member[keep]),
        "subscriber_id": sub,
        "subscriber_relation": _enum(ref.RELATIONS, pop.relation[p]),
        "gender": _enum(ref.GENDERS, pop.sex[p]),
        "race": _enum(ref.RACES, pop.race[p]),
        "ethnicity": _enum(ref.ETHNICITIES, pop.ethnicity[p]),
        "birth_date": _date(pop.birth[p]),
        "death_date": _date(death),
        "enrollment_start_date": _date(pop.span_start_day[keep]),
        "enrollment_end_date": _date(end),
        "payer": _const(ref.PAYER, n),
        "payer_type": _enum(ref.PAYER_TYPES, pop.payer_type[p]),
        "plan": _const(ref.PLAN, n),
        "aid_category": _enum(ref.AID_CATEGORIES, pop.aid[p]),
        "first_name": first,
        "last_name": _enum(ref.LAST_NAMES, pop.last_name[p]),
        "address": address,
        "city": _enum([c[0] for c in ref.CITIES], city),
        "state": _const(ref.STATE, n),
        "zip_code": zipc,
        "phone": phone,
        "data_source": _const(ref.DATA_SOURCE, n),
        "file_name": _const(file_name, n),
        "file_date": _date(np.full(n, pop.month_end[m])),
    })


def _payment(d: dict) -> dict:
    """The payment columns every claim table of inputs.md has, in its order."""
    return {"paid_date": _date(d["paid_date"]), "paid_amount": _money(d["paid"]), "allowed_amount": _money(d["allowed"])}


def _adjudication(d: dict) -> dict:
    """A claim line's status and its place in the chain of adjustments (the last columns of both claim tables)."""
    return {"claim_status": _enum(ref.CLAIM_STATUSES, d["status"]),
            "adjustment_sequence": pa.array(d["seq"].astype(np.int64))}


def medical_claims(d: dict, pop: Population, codes: Codes, prov: Providers) -> pa.Table:
    """The medical_claim table of inputs.md from claim-line columns."""
    n = len(d["claim_num"])
    b = codes.book
    cols = {
        "claim_id": _ids("MC", d["claim_num"]),
        "claim_line_number": pa.array(d["line"].astype(np.int64)),
        "claim_type": _enum(ref.CLAIM_TYPES, d["ctype"]),
        "person_id": person_ids(pop, d["person"]),
        "member_id": member_ids(pop, d["member"]),
        "payer": _const(ref.PAYER, n),
        "plan": _const(ref.PLAN, n),
        "claim_start_date": _date(d["start"]),
        "claim_end_date": _date(d["end"]),
        "claim_line_start_date": _date(d["lstart"]),
        "claim_line_end_date": _date(d["lend"]),
        "admission_date": _date(d["adm"]),
        "discharge_date": _date(d["dis"]),
        "admit_type_code": b.small.arrow(np.where(d["ctype"] == 1, d["admit_type"], -1)),
        "admit_source_code": b.small.arrow(d["admit_source"]),
        "discharge_disposition_code": b.small.arrow(d["disch"]),
        "place_of_service_code": b.pos.arrow(d["pos"]),
        "bill_type_code": b.bill.arrow(d["bill"]),
        "revenue_center_code": b.rev.arrow(d["rev"]),
        "hcpcs_code": b.hcpcs.arrow(d["hcpcs"]),
        "hcpcs_modifier_1": pa.nulls(n, pa.string()),
        "rendering_npi": prov.arrow(d["rendering"]),
        "billing_npi": prov.arrow(d["billing"]),
        "facility_npi": prov.arrow(d["facility"]),
        **_payment(d),
        "charge_amount": _money(d["charge"]),
        "diagnosis_code_type": _const("icd-10-cm", n),
    }
    for j in range(N_DX_COLUMNS):
        cols[f"diagnosis_code_{j + 1}"] = (b.icd_arrow(d["dx"][:, j], d["dotted"]) if j < d["dx"].shape[1]
                                           else pa.nulls(n, pa.string()))
    cols.update(_adjudication(d))
    return pa.table(cols)


def pharmacy_claims(d: dict, pop: Population, codes: Codes, prov: Providers) -> pa.Table:
    """The pharmacy_claim table of inputs.md from fill columns."""
    n = len(d["claim_num"])
    return pa.table({
        "claim_id": _ids("RX", d["claim_num"]),
        "claim_line_number": pa.array(np.ones(n, np.int64)),
        "person_id": person_ids(pop, d["person"]),
        "member_id": member_ids(pop, d["member"]),
        "payer": _const(ref.PAYER, n),
        "plan": _const(ref.PLAN, n),
        "prescribing_provider_npi": prov.arrow(d["prescriber"]),
        "dispensing_provider_npi": prov.arrow(d["dispenser"]),
        "dispensing_date": _date(d["day"]),
        "ndc_code": _enum(codes.ndc_codes, d["product"]),
        "atc_code": _enum(codes.ndc_atc, d["product"]),
        "quantity": pa.array(d["quantity"]),
        "days_supply": pa.array(d["days_supply"]),
        "refills": pa.array(d["refills"]),
        **_payment(d),
        **_adjudication(d),
    })


def ed_visits(d: dict, pop: Population, codes: Codes, prov: Providers) -> pa.Table:
    """The ed_visit table of inputs.md from ADT message columns."""
    b = codes.book
    names = [h[0] for h in ref.HOSPITALS]
    complaints = [c for group in ref.CHIEF_COMPLAINTS for c in group]
    return pa.table({
        "visit_id": _ids("V", d["visit"] * 100 + d["hosp"]),
        "person_id": _ids("P", pop.person_num[d["person"]], mask=d["no_person"]),
        "member_id": member_ids(pop, d["member"]),
        "facility_npi": prov.arrow(prov.hospitals[d["hosp"]]),
        "facility_name": _enum(names, d["hosp"]),
        "arrival_datetime": _ts(d["arrival"]),
        "discharge_datetime": _ts(d["discharge"]),
        "chief_complaint": _enum(complaints, d["complaint"]),
        "diagnosis_code_1": b.icd_arrow(d["dx"][:, 0], d["dotted"]),
        "diagnosis_code_2": b.icd_arrow(d["dx"][:, 1], d["dotted"]),
        "diagnosis_code_3": b.icd_arrow(d["dx"][:, 2], d["dotted"]),
        "disposition": _enum(ref.DISPOSITIONS, d["disposition"]),
        "message_datetime": _ts(d["message"]),
    })


def care_management(d: dict, pop: Population) -> pa.Table:
    """The care_management snapshot table."""
    return pa.table({
        "person_id": person_ids(pop, d["person"]),
        "program": _enum(ref.PROGRAMS, d["program"]),
        "status": _enum(ref.CM_STATUSES, d["status"]),
        "status_date": _date(d["day"]),
        "agency": _enum(ref.AGENCIES, d["agency"]),
        "care_coordinator_id": _ids("CC", d["coord"], mask=d["coord"] < 0),
    })


def sdoh_screenings(d: dict, pop: Population) -> pa.Table:
    """The sdoh_screening table."""
    return pa.table({
        "person_id": person_ids(pop, d["person"]),
        "screening_date": _date(d["day"]),
        "instrument": _enum(ref.INSTRUMENTS, d["instrument"]),
        "domain": _enum(ref.SDOH_DOMAINS, d["domain"]),
        "result": _enum(ref.SDOH_RESULTS, d["result"]),
    })


def for_format(table: pa.Table, fmt: str) -> pa.Table:
    """CSV gets ISO 8601 timestamps with the T; Parquet keeps the typed columns."""
    if fmt == "parquet":
        return table
    cols = []
    for name, col in zip(table.column_names, table.columns):
        if pa.types.is_timestamp(col.type):
            col = pc.strftime(col, format="%Y-%m-%dT%H:%M:%S")
        cols.append(col)
    return pa.table(dict(zip(table.column_names, cols)))


def serialize(table: pa.Table, fmt: str, delimiter: str | None) -> bytes:
    """File bytes for one format; gzip with mtime 0 so the same table gives the same bytes."""
    if fmt == "parquet":
        sink = pa.BufferOutputStream()
        pq.write_table(table, sink, compression="snappy")
        return sink.getvalue().to_pybytes()
    sink = pa.BufferOutputStream()
    pacsv.write_csv(table, sink, pacsv.WriteOptions(include_header=True, delimiter=delimiter, batch_size=65536))
    data = sink.getvalue().to_pybytes()
    if fmt == "csv.gz":
        buf = io.BytesIO()
        # level 1: a state-sized plan writes gigabytes; the ratio barely differs from level 6
        with gzip.GzipFile(fileobj=buf, mode="wb", compresslevel=1, mtime=0, filename="") as gz:
            gz.write(data)
        data = buf.getvalue()
    return data


def write_file(folder: Path, name: str, data: bytes) -> str:
    """Write the file; return its sha256 for the manifest."""
    (folder / name).write_bytes(data)
    return sha256_bytes(data)
