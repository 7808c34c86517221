"""Ingest: landing -> lake + quarantine, validated against the data contracts (the first stage).

- :mod:`~riskstrat.ingest.contracts`: ``data_contracts/<table>.yaml`` (ODCS v3) -> rules -> GX suites;
- :mod:`~riskstrat.ingest.read`: a delivery file typed in one DuckDB scan;
- :mod:`~riskstrat.ingest.checks`: the riskstrat checks (ICD-10-CM, NPI, resends, eligibility, ...);
- :mod:`~riskstrat.ingest.validate`: Great Expectations over the typed rows;
- :mod:`~riskstrat.ingest.state`: what is carried from one delivery month to the next;
- :mod:`~riskstrat.ingest.ledger`: ``lake/_deliveries.parquet``;
- :mod:`~riskstrat.ingest.transaction`: a month is committed whole or not at all;
- :mod:`~riskstrat.ingest.run`: :func:`ingest_workspace`, the recipe.
"""

from riskstrat.ingest.ledger import read_deliveries
from riskstrat.ingest.run import IngestError, IngestReport, TableResult, ingest_workspace

__all__ = ["IngestError", "IngestReport", "TableResult", "ingest_workspace", "read_deliveries"]
