"""The declarations are the single source: the table, the catalogue, the reasons and the SQL agree."""

from __future__ import annotations

import re

import pytest
import sqlglot
from sqlglot import exp

from riskstrat import features as F
from riskstrat.codesets import load as load_codeset

SQL_FILES = sorted(F.sql_dir().glob("*.sql"))


def test_committed_catalogue_is_what_the_declarations_generate():
    committed = F.catalogue_path().read_text(encoding="utf-8")
    assert committed == F.catalogue_markdown(), (
        "docs/features.md is stale: run .venv/bin/python -c 'import riskstrat.features as f; f.write_catalogue()'"
    )


def test_catalogue_lists_every_feature_and_says_race_is_not_a_feature():
    text = F.catalogue_markdown()
    for name in F.feature_names():
        assert f"`{name}`" in text
    assert "Race and ethnicity are never model inputs" in text
    assert "less conservative" in text


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("ed_visits_6m", 3, "3 ED visits in the last 6 months"),
        ("ed_visits_6m", 1, "1 ED visit in the last 6 months"),
        ("bh_ed_visits_12m", 2.0, "2 behavioural-health ED visits in the last 12 months"),
        ("dx_depression_12m", 1, "Depression diagnosis in the last 12 months"),
        ("dx_depression_12m", 0, "No depression diagnosis in the last 12 months"),
        ("no_dental_visit_12m", 1, "No dental visit in the last 12 months"),
        ("no_dental_visit_12m", 0, "Had a dental visit in the last 12 months"),
        ("paid_pmpm_12m", 1234.4, "$1,234 paid per month of coverage in the last 12 months"),
        ("psychotropic_classes_12m", 1, "1 psychotropic medicine class in the last 12 months"),
        ("rx_stimulant_12m", 4, "4 stimulant (ADHD) fills in the last 12 months"),
        ("pmca_class", 2, "Medical complexity: PMCA class 2 of 2"),
    ],
)
def test_reason_text_uses_the_members_value(name, value, expected):
    assert F.reason_text(name, value) == expected


def test_every_feature_has_a_reason_for_any_value():
    for f in F.FEATURES:
        for value in (0, 1, 2.5, float("nan")):
            text = F.reason_text(f.name, value)
            assert text and "{" not in text, (f.name, value, text)
    with pytest.raises(KeyError, match="no feature named"):
        F.reason_text("not_a_feature", 1)


def test_declarations_are_complete_and_consistent():
    assert len(F.monotone_constraints()) == len(F.feature_names())
    windowed_person_level = {f.concept for f in F.FEATURES if f.aggregate == "value" and f.window_months}
    for f in F.FEATURES:
        assert f.description.strip() and f.sources, f.name
        assert (F.sql_dir() / f"{f.concept}.sql").exists(), f.name
        assert set(f.sources) <= set(F.LAKE_TABLES), f.name
        if f.codeset:
            groups = set(load_codeset(f.codeset)["group"])
            for group in (f.group or "").split(","):
                assert not group or group in groups or f.concept == "sdoh_needs", (f.name, group)
    # one-row-per-child concepts read the whole data window: their declared window must say so
    for f in F.FEATURES:
        if f.concept in windowed_person_level and f.window_months:
            assert f.window_months == F.data_window_months(), f.name
    assert F.get_feature("ed_visits_6m").monotone == 1


def test_a_bad_declaration_is_refused():
    with pytest.raises(ValueError, match="aggregate"):
        F.Feature("x", "f", "ed_visits", "median", description="d", reason="r", kind="count", sources=("ed_visit",))
    with pytest.raises(ValueError, match="window 12"):
        F.Feature("x", "f", "ed_visits", "trend", window_months=6, description="d", reason="r", kind="rate",
                  sources=("ed_visit",))


def test_race_and_ethnicity_are_never_read():
    for path in SQL_FILES:
        tree = sqlglot.parse_one(path.read_text(), read="duckdb")
        columns = {c.name.lower() for c in tree.find_all(exp.Column)}
        assert not columns & {"race", "ethnicity"}, path.name
    assert not [n for n in F.feature_names() if "race" in n or "ethnic" in n]


@pytest.mark.parametrize("path", SQL_FILES, ids=lambda p: p.name)
def test_sql_file_opens_with_its_rule_and_transpiles_to_spark(path):
    text = path.read_text(encoding="utf-8")
    first = text.splitlines()[0]
    assert first.startswith("-- ") and len(first) > 20, "open with the rule in plain English"
    assert not re.search(r"\b(now|current_date|current_timestamp|today)\b", text, re.I), "as-of comes from params"
    # no clinical codes pasted into SQL: quoted literals are only names of groups, code sets and statuses
    for literal in re.findall(r"'([^']*)'", "\n".join(l for l in text.splitlines() if not l.lstrip().startswith("--"))):
        assert not re.fullmatch(r"[A-Z]\d{2}[0-9A-Z]*|\d{2,5}", literal), (path.name, literal)
    spark = sqlglot.transpile(text, read="duckdb", write="spark", error_level=sqlglot.ErrorLevel.RAISE)
    assert spark and spark[0].strip()


def test_generated_feature_sql_transpiles_to_spark():
    spark = sqlglot.transpile(F.feature_sql(), read="duckdb", write="spark", error_level=sqlglot.ErrorLevel.RAISE)
    assert "agg_ed_visits" in spark[0]


def test_concept_order_puts_what_is_read_first():
    order = F.concept_order(["bh_ed_followup"])
    assert order.index("medical_claims") < order.index("diagnoses") < order.index("bh_ed_visits")
    assert order.index("bh_outpatient_visits") < order.index("bh_ed_followup") == len(order) - 1


def test_catalogue_hash_is_stable_and_short():
    assert F.catalogue_hash() == F.catalogue_hash()
    assert len(F.catalogue_hash()) == 16
