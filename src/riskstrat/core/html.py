"""Small pieces of the HTML pages riskstrat writes (the monthly report, the programme evaluation)."""

from __future__ import annotations

import html

import numpy as np


def escape(value) -> str:
    """``value`` as text safe inside HTML, quotes included."""
    return html.escape(str(value), quote=True)


def html_table(headers: list[str], rows: list[list], numeric: set[int] | None = None) -> str:
    """A plain table; the columns in ``numeric`` align right, and integers get thousands separators."""
    numeric = numeric or set()
    head = "".join(f'<th class="n">{escape(h)}</th>' if i in numeric else f"<th>{escape(h)}</th>"
                   for i, h in enumerate(headers))
    body = []
    for row in rows:
        cells = []
        for i, v in enumerate(row):
            text = f"{v:,}" if isinstance(v, (int, np.integer)) and not isinstance(v, bool) else v
            cells.append(f'<td class="n">{escape(text)}</td>' if i in numeric else f"<td>{escape(text)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
