"""The enrolment concepts against their rule read the slow way: every calendar month each span touches.

``enrolment_spans`` works on the spans (a few per child) instead of listing every enrolled month
and removing the months two spans share; here random spans (overlapping, nested, adjacent, open,
before the window, after the as-of month) are read both ways.
"""

from __future__ import annotations

import datetime as dt

import duckdb
import numpy as np
import pandas as pd

from riskstrat.core.months import add_months, month_end, month_start, months_between
from riskstrat.features.concept_sql import concept_order, materialise, set_params

AS_OF, FIRST = "2025-06", "2023-07"


def _random_spans(rng: np.random.Generator, people: int) -> pd.DataFrame:
    first_day = dt.date(2022, 11, 1)
    rows = []
    for p in range(people):
        for _ in range(rng.integers(1, 5)):
            start = first_day + dt.timedelta(days=int(rng.integers(0, 1100)))
            end = None if rng.random() < 0.2 else start + dt.timedelta(days=int(rng.integers(0, 300)))
            rows.append({"delivery_month": AS_OF, "person_id": f"P{p:04d}", "enrollment_start_date": start,
                         "enrollment_end_date": end})
    # a snapshot of another month, which must be ignored
    rows.append({"delivery_month": add_months(AS_OF, -1), "person_id": "P0000",
                 "enrollment_start_date": dt.date(2020, 1, 1), "enrollment_end_date": None})
    return pd.DataFrame(rows)


def _slow_way(spans: pd.DataFrame) -> tuple[set, set]:
    """(person, month) enrolled and (person, month) ending a break, month by month."""
    months = months_between(FIRST, AS_OF)
    enrolled: dict[str, list[int]] = {}
    for row in spans[spans["delivery_month"] == AS_OF].itertuples():
        for i, m in enumerate(months):
            if row.enrollment_start_date <= month_end(m) and (
                    row.enrollment_end_date is None or pd.isna(row.enrollment_end_date)
                    or row.enrollment_end_date >= month_start(m)):
                enrolled.setdefault(row.person_id, []).append(i)
    months_in = {(p, months[i]) for p, idx in enrolled.items() for i in idx}
    breaks = set()
    for p, idx in enrolled.items():
        ordered = sorted(set(idx))
        breaks |= {(p, months[b]) for a, b in zip(ordered, ordered[1:], strict=False) if b > a + 1}
    return months_in, breaks


def test_enrolled_months_and_breaks_read_from_spans_are_those_read_month_by_month():
    spans = _random_spans(np.random.default_rng(5), 300)
    con = duckdb.connect()
    con.register("eligibility_frame", spans)
    con.execute("CREATE TABLE eligibility AS SELECT * FROM eligibility_frame")
    con.execute("CREATE TABLE population AS SELECT DISTINCT person_id FROM eligibility WHERE person_id <> 'P0299'")
    set_params(con, as_of=AS_OF, known_month=AS_OF, first_month=FIRST, last_month=AS_OF)
    # the population is given: what it is built from is left unbuilt
    materialise(con, ["enrolled_months", "enrolment_gaps"], reuse=concept_order(["population"]))
    as_month = "strftime(event_date, '%Y-%m')"
    got_months = con.execute(f"SELECT person_id, {as_month} FROM enrolled_months").fetchall()
    got_breaks = con.execute(f"SELECT person_id, {as_month} FROM enrolment_gaps").fetchall()
    want_months, want_breaks = _slow_way(spans[spans["person_id"] != "P0299"])
    assert len(got_months) == len(set(got_months))  # each month once, however many spans touch it
    assert set(got_months) == want_months and len(want_months) > 3000
    assert sorted(got_breaks) == sorted(want_breaks) and len(want_breaks) > 30
