"""Small SQL helpers for DuckDB: quoting, and reading a single value without leaving a result open.

DuckDB refuses the next query on a connection while a result is still unfetched
(``ResourceInUseException``), and ``fetchone()`` leaves one open; :func:`scalar` and :func:`first_row`
fetch the whole result.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def literal(value: str | Path) -> str:
    """A SQL string literal."""
    return "'" + str(value).replace("'", "''") + "'"


def identifier(name: str) -> str:
    """A quoted SQL identifier (a column name as a delivery spells it)."""
    return '"' + name.replace('"', '""') + '"'


def first_row(con, sql: str, params: Any = None) -> tuple | None:
    """The first row of a query (None when it returns none), the result fully fetched."""
    rows = con.execute(sql, params).fetchall() if params is not None else con.execute(sql).fetchall()
    return rows[0] if rows else None


def scalar(con, sql: str, params: Any = None) -> Any:
    """The first column of the first row of a query (None when it returns no row)."""
    row = first_row(con, sql, params)
    return None if row is None else row[0]
