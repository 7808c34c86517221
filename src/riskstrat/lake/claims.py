"""The final-claim rule: which version of each claim line stands, as known at the end of a month."""

from __future__ import annotations

from importlib import resources

import duckdb

from riskstrat.core.errors import RiskstratError
from riskstrat.core.months import check_month, month_end

CLAIM_TABLES = ("medical_claim", "pharmacy_claim")


def final_claims_sql(table: str = "medical_claim", lines: str | None = None) -> str:
    """The final-claim rule (``final_claims.sql``) for ``medical_claim`` or ``pharmacy_claim``.

    Parameters: ``$known_first`` and ``$known_last`` (YYYY-MM), the months whose final claims are
    wanted, and ``$known_last_date`` (the last day of ``$known_last``); each line comes with the
    months it stood in, ``known_from`` <= T < ``known_until`` (see :func:`final_claims`). ``lines``,
    a SELECT of some of the table's lines (claim_id, adjustment_sequence, paid_date, claim_status
    and delivery_month at least), limits the claims whose version is chosen (the feature build
    passes only the claims that can matter for its window); the chosen versions' lines are read
    from the table.
    """
    if table not in CLAIM_TABLES:
        raise RiskstratError(f"final claims exist for {' and '.join(CLAIM_TABLES)}, not {table!r}")
    text = resources.files("riskstrat.lake").joinpath("final_claims.sql").read_text(encoding="utf-8")
    return text.replace("{claims}", table if lines is None else f"(\n{lines}\n)").replace("{table}", table)


def final_claims(con: duckdb.DuckDBPyConnection, as_of_month: str, table: str = "medical_claim",
                 through: str | None = None) -> duckdb.DuckDBPyRelation:
    """Final claim lines as known at the end of ``as_of_month`` (see docs/lake.md), with ``is_denied``.

    With ``through``, those of every month from ``as_of_month`` to ``through`` in one pass: a line
    is in month T's final claims when ``known_from`` <= T < ``known_until`` (YYYY-MM; '9999-12'
    when nothing known by ``through`` replaces it). Returns a lazy DuckDB relation (filter,
    project or join it further).
    """
    check_month(as_of_month, "as_of_month")
    last = check_month(through, "through") if through else as_of_month
    if last < as_of_month:
        raise RiskstratError(f"final claims through {last} were asked for from {as_of_month}: the range is empty")
    sql = final_claims_sql(table).replace("$known_last_date", f"DATE '{month_end(last).isoformat()}'")
    return con.sql(sql.replace("$known_first", f"'{as_of_month}'").replace("$known_last", f"'{last}'"))
