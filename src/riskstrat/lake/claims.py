"""The final-claim rule: which version of each claim line stands, as known at the end of a month."""

from __future__ import annotations

from importlib import resources

import duckdb

from riskstrat.core.errors import RiskstratError
from riskstrat.core.months import check_month, month_end

CLAIM_TABLES = ("medical_claim", "pharmacy_claim")


def final_claims_sql(table: str = "medical_claim", lines: str | None = None) -> str:
    """The final-claim rule (``final_claims.sql``) for ``medical_claim`` or ``pharmacy_claim``.

    Parameters: ``$as_of_month`` (YYYY-MM) and ``$as_of`` (the last day of that month). ``lines``,
    a SELECT of some of the table's lines (claim_id, adjustment_sequence, paid_date, claim_status
    and delivery_month at least), limits the claims whose version is chosen (the feature build
    passes only the claims that can matter for its window); the chosen versions' lines are read
    from the table.
    """
    if table not in CLAIM_TABLES:
        raise RiskstratError(f"final claims exist for {' and '.join(CLAIM_TABLES)}, not {table!r}")
    text = resources.files("riskstrat.lake").joinpath("final_claims.sql").read_text(encoding="utf-8")
    return text.replace("{claims}", table if lines is None else f"(\n{lines}\n)").replace("{table}", table)


def final_claims(con: duckdb.DuckDBPyConnection, as_of_month: str, table: str = "medical_claim") -> duckdb.DuckDBPyRelation:
    """Final claim lines as known at the end of ``as_of_month`` (see docs/lake.md), with ``is_denied``.

    Returns a lazy DuckDB relation (filter, project or join it further).
    """
    check_month(as_of_month, "as_of_month")
    sql = final_claims_sql(table).replace("$as_of_month", f"'{as_of_month}'")
    sql = sql.replace("$as_of", f"DATE '{month_end(as_of_month).isoformat()}'")
    return con.sql(sql)
