"""Helpers for the scoring tests: a tiny lake in the docs/lake.md layout, feature frames, a training frame.

The lake tables get every contract column with its lake type (null where a row says nothing), so
the features stage reads these files exactly as it reads what ingest writes.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from riskstrat.features import feature_names
from riskstrat.ingest.contracts import load_contract
from riskstrat.synth.frames import feature_frame


def write_lake_table(workspace: Path, table: str, month: str, rows: list[dict]) -> Path:
    """lake/<table>/delivery_month=<month>/part-0.parquet with every contract column."""
    contract = load_contract(table)
    folder = Path(workspace) / "lake" / table / f"delivery_month={month}"
    folder.mkdir(parents=True, exist_ok=True)
    names = [c.name for c in contract.columns]
    unknown = {k for r in rows for k in r} - set(names)
    if unknown:
        raise KeyError(f"{table} has no column(s) {sorted(unknown)}")
    frame = pd.DataFrame([{n: r.get(n) for n in names} for r in rows], columns=names).astype(object)
    frame["source_file"] = f"{table}.csv"
    frame["source_row"] = np.arange(1, len(frame) + 1)
    con = duckdb.connect()
    con.register("rows", frame)
    cols = [f"CAST({c.name} AS {c.duckdb_type}) AS {c.name}" for c in contract.columns]
    cols += ["CAST(source_file AS VARCHAR) AS source_file", "CAST(source_row AS BIGINT) AS source_row"]
    path = folder / "part-0.parquet"
    con.execute(f"COPY (SELECT {', '.join(cols)} FROM rows) TO '{path}' (FORMAT parquet)")
    con.close()
    return path


def child(person_id: str, subscriber_id: str | None, first: str, last: str, birth: str = "2014-03-01", **extra) -> dict:
    row = {
        "person_id": person_id, "member_id": "M" + person_id, "subscriber_id": subscriber_id,
        "subscriber_relation": "child", "gender": "female", "race": "unknown", "birth_date": birth,
        "enrollment_start_date": "2023-01-01", "payer": "plan", "payer_type": "medicaid", "plan": "plan",
        "aid_category": "tanf", "first_name": first, "last_name": last, "address": "1 Main St", "city": "Springfield",
        "state": "IL", "zip_code": "62701", "phone": "555-0100",
    }
    row.update(extra)
    return row


def training_frame(children: int = 1500, months: list[str] | None = None, seed: int = 1) -> pd.DataFrame:
    """Stacked as-of months with a label that depends on ED visits, BH diagnoses and PMCA class."""
    months = months or []
    frames = []
    for k, month in enumerate(months):
        f = feature_frame(children, seed=seed * 100 + k)
        logit = (-2.2 + 0.5 * f["_latent"] + 0.4 * np.log1p(f["ed_visits_12m"]) + 0.6 * f["dx_suicidal_ideation_12m"]
                 + 0.4 * f["pmca_class"])
        p = 1 / (1 + np.exp(-logit))
        f["label"] = (np.random.default_rng(seed + k).random(children) < p).astype(int)
        f["as_of"] = month
        f["person_id"] = [f"T{i:05d}" for i in range(children)]
        frames.append(f.drop(columns="_latent"))
    return pd.concat(frames, ignore_index=True)[["person_id", "as_of", *feature_names(), "label"]]


AS_OF = "2025-06"
MALICIOUS = '=HYPERLINK("http://evil.example/x","click")'


#: ED diagnoses: suicidal ideation (the Stronger Together rule) and cystic fibrosis, a progressive
#: condition (PMCA class 2: with two ED visits, the CARES rule).
SUICIDAL, CYSTIC_FIBROSIS, ASTHMA = "R45851", "E840", "J45909"


def ed_visit(i: int, person_id: str, month: int, *codes: str, year: int = 2025) -> dict:
    """One ED visit (ADT) of ``person_id`` in ``month`` with up to three diagnoses."""
    day = f"{year}-{month:02d}-1{i % 9}"
    return {"visit_id": f"V{year}{i}", "person_id": person_id, "member_id": "M" + person_id, "facility_npi": "1234567890",
            "arrival_datetime": f"{day} 10:00:00", "message_datetime": f"{day} 12:00:00", "disposition": "discharged",
            **{f"diagnosis_code_{k}": code for k, code in enumerate(codes, start=1)}}


def lake_rows() -> dict[str, list[dict]]:
    """Eligibility snapshot of 2025-06: 12 children in 8 households, an adult, a malicious name;
    care management: one enrolled in CARES, one recent Stronger Together decline, one old decline,
    one discharged. ED visits put K01, K04 and K05 in both programmes' populations (K01 also on
    the general list), K02 in Stronger Together's only."""
    elig = [
        child("K01", "H1", MALICIOUS, "Smith"),
        child("K02", "H1", "Ann", "+Smith"),
        child("K03", "H1", "Bob", "-Smith"),
        child("K04", "H2", "Cy", "@Jones"),
        child("K05", "H2", "Di", "Jones"),
        child("K06", None, "Ed", "Brown"),
        child("K07", "H3", "Flo", "Green"),
        child("K08", "H4", "Gus", "White"),
        child("K09", "H5", "Hal", "Black"),
        child("K10", "H6", "Ivy", "Gray"),
        child("K11", "H7", "Jo", "Stone"),
        child("K12", "H8", "Kai", "Wood"),
        child("A01", "H1", "Adult", "Smith", birth="1980-01-01", subscriber_relation="self"),
    ]
    cm = [
        {"person_id": "K04", "program": "cares", "status": "enrolled", "status_date": "2025-03-01"},
        {"person_id": "K05", "program": "stronger_together", "status": "declined", "status_date": "2025-05-20"},
        {"person_id": "K06", "program": "cares", "status": "declined", "status_date": "2024-06-01"},
        {"person_id": "K07", "program": "cares", "status": "enrolled", "status_date": "2024-10-01"},
        {"person_id": "K07", "program": "cares", "status": "discharged", "status_date": "2025-02-01"},
    ]
    visits = [("K01", 3, SUICIDAL, CYSTIC_FIBROSIS), ("K01", 5, SUICIDAL), ("K01", 6, SUICIDAL), ("K02", 4, SUICIDAL),
              ("K02", 5, SUICIDAL), ("K03", 2, ASTHMA), ("K04", 5, SUICIDAL, CYSTIC_FIBROSIS), ("K04", 2, ASTHMA),
              ("K05", 5, SUICIDAL, CYSTIC_FIBROSIS), ("K05", 4, ASTHMA), ("K09", 1, ASTHMA), ("K10", 6, ASTHMA),
              ("K11", 3, ASTHMA)]
    ed = [ed_visit(i, p, m, *codes) for i, (p, m, *codes) in enumerate(visits)]
    return {"eligibility": elig, "care_management": cm, "ed_visit": ed}


def write_ledger(root: Path) -> None:
    """lake/_deliveries.parquet as ingest writes it: one quarantined eligibility row in 2025-06, and the
    required tables the tiny lake has no rows of, delivered empty."""
    from datetime import datetime, timezone

    import pyarrow as pa
    import pyarrow.parquet as pq

    from riskstrat.ingest.contracts import TABLES, load_contracts
    from riskstrat.ingest.ledger import DELIVERY_COLUMNS

    counts = {t: len(r) for t, r in lake_rows().items()}
    # every table a delivery must have is in the ledger, as ingest leaves it (these delivered no rows)
    counts.update({t: 0 for t, c in load_contracts(None).items() if t in TABLES and not c.optional and t not in counts})
    rows = [{
        "table": t, "delivery_month": AS_OF, "file": f"{t}.csv", "sha256": "0" * 64, "status": "accepted",
        "rule": None, "message": None, "rows_in": n + (t == "eligibility"), "rows_accepted": n,
        "rows_quarantined": int(t == "eligibility"), "rows_warned": 0,
        "rule_counts": '{"birth_date_not_a_date": 1}' if t == "eligibility" else "{}", "contract_version": "1",
        "ingested_at": datetime(2025, 7, 2, tzinfo=timezone.utc),
    } for t, n in counts.items()]
    pq.write_table(pa.Table.from_pylist(rows, schema=pa.schema(DELIVERY_COLUMNS)), root / "lake" / "_deliveries.parquet")


def copy_specs(folder: Path, capacities: dict[str, int] | None = None) -> Path:
    """The shipped model specifications copied into ``folder``, with the ``capacities`` given."""
    import re
    import shutil

    from riskstrat.config import specs_folder

    folder.mkdir(parents=True)
    for path in sorted(specs_folder(None).glob("*.yaml")):
        shutil.copy(path, folder / path.name)
    for name, capacity in (capacities or {}).items():
        path = folder / f"{name}.yaml"
        path.write_text(re.sub(r"^capacity: \d+$", f"capacity: {capacity}", path.read_text(encoding="utf-8"),
                               flags=re.M), encoding="utf-8")
    return folder


#: Each list's capacity in the scoring workspace: small, so that a list is cut.
CAPACITIES = {"acute_event": 5, "cares": 2, "stronger_together": 2}


def build_workspace(root: Path, model_workspace: Path) -> Path:
    """A scoring workspace: the tiny lake and its ingest ledger, the registered models (copied), the
    shipped specifications with :data:`CAPACITIES` (``model.specs_dir``)."""
    import shutil

    shutil.copytree(model_workspace / "models", root / "models")
    for table, rows in lake_rows().items():
        write_lake_table(root, table, AS_OF, rows)
    write_ledger(root)
    copy_specs(root / "specs", CAPACITIES)
    (root / "riskstrat.toml").write_text('[model]\nspecs_dir = "specs"\n', encoding="utf-8")
    return root
