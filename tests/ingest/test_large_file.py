"""Line numbers on a file large enough for DuckDB to read in parallel pieces.

The fixture files fit in one CSV buffer, so DuckDB reads them on one thread; a delivery of tens
of megabytes is split across threads. The lake's source_row and the quarantine's original text
both rest on DuckDB keeping file order, which only a large file puts to the test.
"""

from __future__ import annotations

import pyarrow.parquet as pq
from ingest_helpers import PLAN, copy_plan, read_csv_rows, write_csv_rows

from riskstrat.config import IngestSettings
from riskstrat.core.workspace import partition_path
from riskstrat.ingest import ingest_workspace

MONTH = "2025-02"
#: ~50 MB of medical claims: more than one of DuckDB's 32 MB CSV buffers, so both threads read a part
ROWS = 260_000
#: 1-based data-row numbers of the malformed rows, one near each end and one in the middle
BAD_LINES = (3, 131_071, 259_998)


def test_line_numbers_and_original_text_survive_a_parallel_read(tmp_path):
    ws = copy_plan(tmp_path, months=(MONTH,))
    path = ws / "landing" / MONTH / "medical_claim.csv"
    header, rows, delim = read_csv_rows(PLAN / "landing" / MONTH / "medical_claim.csv")
    template = rows[0]
    claim_id, paid = header.index("claim_id"), header.index("paid_amount")
    big = []
    for line in range(1, ROWS + 1):
        row = list(template)
        row[claim_id] = f"BIG{line:07d}"
        row[paid] = f"{line}.5x" if line in BAD_LINES else f"{line % 997}.25"
        big.append(row)
    write_csv_rows(path, header, big, delim)
    assert path.stat().st_size > 40_000_000  # keep it above one buffer if the template row shrinks

    report = ingest_workspace(ws, settings=IngestSettings(data_docs=False))
    med = next(t for t in report.tables if t.table == "medical_claim")
    assert (med.status, med.rows_in, med.rows_quarantined) == ("accepted", ROWS, len(BAD_LINES))

    quarantine = pq.read_table(partition_path(ws, "quarantine", "medical_claim", MONTH)).to_pylist()
    assert [(q["source_row"], q["rule"], q["column"]) for q in quarantine] == [
        (line, "type", "paid_amount") for line in BAD_LINES
    ]
    assert [(q["claim_id"], q["paid_amount"]) for q in quarantine] == [(f"BIG{line:07d}", f"{line}.5x") for line in BAD_LINES]

    lake = pq.read_table(partition_path(ws, "lake", "medical_claim", MONTH), columns=["claim_id", "source_row", "paid_amount"])
    expected = [line for line in range(1, ROWS + 1) if line not in BAD_LINES]
    assert lake.column("source_row").to_pylist() == expected
    assert lake.column("claim_id").to_pylist() == [f"BIG{line:07d}" for line in expected]
    assert lake.column("paid_amount").to_pylist() == [(line % 997) + 0.25 for line in expected]
