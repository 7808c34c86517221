"""The declarations are the single source: the table, the catalogue, the reasons and the SQL agree."""

from __future__ import annotations

import dataclasses
import re
from importlib import resources
from pathlib import Path

import pytest
import sqlglot
from sqlglot import exp

from riskstrat.features import build, concept_sql, reasons
from riskstrat.features import declarations as F
from riskstrat.features.catalogue import catalogue_markdown
from riskstrat.features.codesets import load as load_codeset
from riskstrat.ingest.contracts import TABLES

REPO = Path(__file__).resolve().parents[2]
CONCEPTS = Path(str(resources.files("riskstrat.features").joinpath("concepts")))
SQL_FILES = sorted(CONCEPTS.glob("*.sql"))


def test_committed_catalogue_is_what_the_declarations_generate():
    committed = (REPO / "docs" / "features.md").read_text(encoding="utf-8")
    assert committed == catalogue_markdown(), (
        "docs/features.md is stale: run .venv/bin/python -m riskstrat.features.catalogue docs/features.md"
    )


def test_catalogue_lists_every_feature_and_says_race_is_not_a_feature():
    text = catalogue_markdown()
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
        ("pmca_class", 2, "Medical complexity: complex chronic disease"),
        ("pmca_class", 1, "Medical complexity: non-complex chronic disease"),
    ],
)
def test_reason_text_uses_the_members_value(name, value, expected):
    assert reasons.reason_text(name, value) == expected


def test_every_feature_has_a_reason_for_any_value():
    for f in F.FEATURES:
        for value in (0, 1, 2.5, float("nan")):
            text = reasons.reason_text(f.name, value)
            assert text and "{" not in text, (f.name, value, text)
    with pytest.raises(KeyError, match="no feature named"):
        reasons.reason_text("not_a_feature", 1)


def test_declarations_are_complete_and_consistent():
    assert len(F.monotone_constraints()) == len(F.feature_names())
    windowed_person_level = {f.concept for f in F.FEATURES if f.aggregate == "value" and f.window_months}
    for f in F.FEATURES:
        assert f.description.strip() and f.sources, f.name
        assert (CONCEPTS / f"{f.concept}.sql").exists(), f.name
        assert set(f.sources) <= set(TABLES), f.name
        if f.codeset:
            groups = set(load_codeset(f.codeset)["group"])
            for group in (f.group or "").split(","):
                assert not group or group in groups or f.concept == "sdoh_needs", (f.name, group)
    # one-row-per-child concepts are not windowed by the build: their SQL keeps to the declared window
    for f in F.FEATURES:
        if f.concept in windowed_person_level and f.window_months:
            assert f"p.start_{f.window_months}m" in concept_sql.concept_sql(f.concept), f.name
    assert F.get_feature("ed_visits_6m").monotone == 1


def test_a_bad_declaration_is_refused():
    with pytest.raises(F.DeclarationError, match="aggregate"):
        F.Feature("x", "f", "ed_visits", "median", description="d", reason="r", kind="count", sources=("ed_visit",))
    with pytest.raises(F.DeclarationError, match="window 12"):
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
    spark = sqlglot.transpile(build.feature_sql(), read="duckdb", write="spark", error_level=sqlglot.ErrorLevel.RAISE)
    assert "agg_ed_visits" in spark[0]


def test_concept_order_puts_what_is_read_first():
    order = concept_sql.concept_order(["bh_ed_followup"])
    assert order.index("medical_claims") < order.index("diagnoses") < order.index("bh_ed_visits")
    assert order.index("bh_outpatient_visits") < order.index("bh_ed_followup") == len(order) - 1


def test_catalogue_hash_is_stable_and_short():
    assert F.catalogue_hash() == F.catalogue_hash()
    assert len(F.catalogue_hash()) == 16


def _declarations_file(**changes) -> str:
    """The shipped declarations.yaml with the first feature's fields changed (None removes one)."""
    text = resources.files("riskstrat.features").joinpath(F.DECLARATIONS_FILE).read_text(encoding="utf-8")
    first = text.index("  - name: age_years\n")
    end = text.index("  - name:", first + 1)
    entry = text[first:end]
    for key, value in changes.items():
        entry = re.sub(rf"(?m)^    {key}: .*\n", "", entry)
        if value is not None:
            entry += f"    {key}: {value}\n"
    return text[:first] + entry + text[end:]


def test_the_shipped_declarations_read_back_as_the_features_in_force():
    titles, features = F.read_declarations(_declarations_file())
    assert features == F.FEATURES and titles == F.FAMILY_TITLES
    assert len(features) == len({f.name for f in features}) == 83


@pytest.mark.parametrize(("changes", "message"), [
    ({"aggregate": "median"}, "feature age_years: aggregate 'median'"),
    ({"colour": "red"}, "feature age_years: unknown field\\(s\\) colour"),
    ({"family": "nowhere"}, "feature age_years: family 'nowhere' is not listed"),
    ({"kind": None}, "feature age_years: .*kind"),
    ({"sources": "[claims_table]"}, "feature age_years: sources"),
    ({"name": "sex_female"}, "declared more than once: sex_female"),
])
def test_a_bad_declarations_file_is_refused_naming_the_file_the_feature_and_the_field(changes, message):
    with pytest.raises(F.DeclarationError, match=rf"^features.yaml: {message}"):
        F.read_declarations(_declarations_file(**changes), where="features.yaml")


def test_a_child_with_no_event_in_a_window_reads_zero_where_an_aggregate_skips_older_events():
    # feature_sql leaves out of an aggregate the events older than its widest window; a child with
    # only such events then has no aggregate row, which each windowed feature must read as zero
    sql = build.feature_sql()
    assert "e.event_date >= p.start_12m" in sql and "agg_diagnoses__lagged" in sql
    for f in F.FEATURES:
        if f.window_months and concept_sql.concept_has_dates(f.concept):
            assert f.missing == 0 or f.aggregate in ("none", "pmpm", "pmpm_trend"), f.name


def test_an_aggregate_reads_only_the_code_sets_its_features_name_unless_one_reads_every_row():
    sql = build.feature_sql()
    start = sql.index("agg_diagnoses AS (")
    diagnoses = sql[start:sql.index("GROUP BY", start)]
    named = sorted({f.codeset for f in F.FEATURES if f.concept == "diagnoses" and not f.lag_months})
    assert "e.codeset IN (" + ", ".join(f"'{c}'" for c in named) + ")" in diagnoses
    depression = F.get_feature("dx_depression_12m")
    assert "e.grp IN ('depression')" in build._rows_read([(12, 0)], [depression], "diagnoses")
    # a value feature reads its column whatever its group, and a feature with no default reads an
    # absent aggregate as missing, not zero: either keeps every row
    reads_all = dataclasses.replace(depression, name="x", aggregate="value", column="grp")
    no_default = dataclasses.replace(depression, name="y", missing=None)
    for other in (reads_all, no_default):
        assert " IN (" not in build._rows_read([(12, 0), (12, 0)], [depression, other], "diagnoses")
