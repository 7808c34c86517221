"""The lake: what ingest writes and every later stage reads (docs/lake.md).

- :func:`riskstrat.lake.views.connect`: a DuckDB connection with one view per table over the
  lake's Parquet (an empty, typed view where a table has no data yet), ``quarantine_<table>``
  and ``_deliveries``.
- :func:`riskstrat.lake.claims.final_claims`: the final-claim rule (``final_claims.sql``) as
  known at the end of a month.
"""

from riskstrat.lake.claims import final_claims, final_claims_sql
from riskstrat.lake.views import connect, latest_delivery, table_source_sql

__all__ = ["connect", "final_claims", "final_claims_sql", "latest_delivery", "table_source_sql"]
