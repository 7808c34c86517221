"""Several as-of months from one pass over the claims: each month's table is the one built on its own."""

from __future__ import annotations

import pandas as pd
import pytest

from riskstrat.core.errors import RiskstratError
from riskstrat.core.months import months_between
from riskstrat.features import build_features
from riskstrat.features.build import FeatureError, build_feature_months
from riskstrat.features.concept_sql import CARRIED, CODE_KEYED, concept_columns, concept_order
from riskstrat.lake import connect, final_claims

# The hand-built plan's claims are adjusted, reversed and paid late around its as-of month 2025-06.
MONTHS = [*months_between("2024-12", "2025-09"), "2025-12"]


def test_months_built_together_are_the_months_built_alone(full_lake):
    together = dict(build_feature_months(full_lake, reversed(MONTHS)))
    assert list(together) == MONTHS  # in month order, whatever order they were asked in
    for month in MONTHS:
        alone = build_features(full_lake, month)
        pd.testing.assert_frame_equal(together[month], alone, check_exact=True)
        assert together[month].attrs == alone.attrs == {"as_of": month}


def test_the_months_together_see_claims_change_between_them(full_lake):
    # without a claim whose final version changes inside the range, the test above could not tell
    # a month's claims from the last month's
    con = connect(full_lake)
    try:
        ranged = final_claims(con, MONTHS[0], through=MONTHS[-1]).sql_query()
        changes = con.sql(f"SELECT claim_id, known_from, known_until, claim_status FROM ({ranged}) "
                          "WHERE known_until <= ? ORDER BY claim_id, known_from", params=[MONTHS[-1]]).fetchall()
    finally:
        con.close()
    assert {claim for claim, *_ in changes} >= {"REV-2"}  # counted until its reversal in 2025-08
    assert ("REV-2", "2025-03", "2025-08", "paid") in changes


def test_final_claims_of_a_range_are_each_months_final_claims(full_lake):
    con = connect(full_lake)
    try:
        columns = "claim_id, claim_line_number, adjustment_sequence, paid_date, is_denied"
        months = months_between(MONTHS[0], MONTHS[-1])
        ranged = con.sql(f"SELECT {columns}, known_from, known_until FROM "
                         f"({final_claims(con, months[0], through=months[-1]).sql_query()})").fetchall()
        for month in months:
            alone = sorted(final_claims(con, month).project(columns).fetchall())
            standing = sorted(r[:-2] for r in ranged if r[-2] <= month < r[-1])
            assert standing == alone, month
    finally:
        con.close()


def test_a_range_that_ends_before_it_starts_is_refused(full_lake):
    con = connect(full_lake)
    try:
        with pytest.raises(RiskstratError, match="2025-03 .* 2025-06"):
            final_claims(con, "2025-06", through="2025-03")
    finally:
        con.close()


def test_only_row_for_row_concepts_are_carried():
    # a carried concept is filtered per month, never rebuilt: it must have the columns the filter
    # reads, and what it reads must be carried too or mean the same for every month
    for name, dated in CARRIED.items():
        assert {"known_from", "known_until", dated} <= concept_columns(name), name
    assert set(concept_order(CARRIED)) <= set(CARRIED) | set(CODE_KEYED)


def test_no_month_is_no_build(full_lake):
    assert list(build_feature_months(full_lake, [])) == []


def test_a_month_without_its_snapshot_is_refused_before_anything_is_built(full_lake):
    with pytest.raises(FeatureError, match="2026-01"):
        next(build_feature_months(full_lake, ["2025-06", "2026-01"]))


def test_a_callers_connection_is_left_as_it_was(full_lake):
    # The build attaches a database for the carried rows and changes how it compresses them; both
    # belong to the database, which a caller's connection shares.
    con = connect(full_lake)
    con.execute("SET disabled_compression_methods = 'rle'")
    months = dict(build_feature_months(con, MONTHS[:2]))
    pd.testing.assert_frame_equal(months[MONTHS[1]], build_features(full_lake, MONTHS[1]), check_exact=True)
    assert con.execute("SELECT current_setting('disabled_compression_methods')").fetchall() == [("RLE",)]
    assert con.execute("SELECT database_name FROM duckdb_databases() WHERE NOT internal").fetchall() == [("memory",)]
