"""Code sets: the catalog and the CSV files agree, and every code is a real code of its system.

These tests read the shipped files, so a bad edit to a CSV fails here before it can change a
feature or a synthetic claim.
"""

from __future__ import annotations

import importlib.resources
import inspect
import re

import pytest
import simple_icd_10_cm as icd

import riskstrat.features.codesets as cs

BASE_COLUMNS = ["code", "match", "group", "description"]
EXTRA_COLUMNS = {
    "pmca_icd10": ["body_system", "progressive"],
    "utilization_codes": ["code_system"],
    "ndc_products": ["atc_code", "drug_name", "days_supply_typical"],
}
CODE_SYSTEMS = {"icd10cm", "cpt_hcpcs", "revenue", "pos", "bill_type", "atc", "ndc", "mixed"}
PMCA_BODY_SYSTEMS = {
    "cardiac", "craniofacial", "dermatological", "endocrinological", "gastrointestinal",
    "genetic", "genitourinary", "hematological", "immunological", "malignancy",
    "mental_health", "metabolic", "musculoskeletal", "neurological", "pulmonary_respiratory",
    "renal", "ophthalmological", "otologic",
}
ATC_PATTERNS = {  # WHO ATC levels 1-5: A, A10, A10B, A10BA, A10BA02
    1: r"[A-Z]", 3: r"[A-Z]\d\d", 4: r"[A-Z]\d\d[A-Z]", 5: r"[A-Z]\d\d[A-Z][A-Z]",
    7: r"[A-Z]\d\d[A-Z][A-Z]\d\d",
}
SNAKE = re.compile(r"[a-z][a-z0-9]*(_[a-z0-9]+)*")

ENTRIES = cs.catalog()["codesets"]
NAMES = [entry["name"] for entry in ENTRIES]
ICD_NAMES = [entry["name"] for entry in ENTRIES if entry["code_system"] == "icd10cm"]


def _system_of_rows(name: str):
    """Yield (row, code_system) for every row of a code set."""
    system = next(e["code_system"] for e in ENTRIES if e["name"] == name)
    for row in cs.load(name).itertuples(index=False):
        yield row, (row.code_system if system == "mixed" else system)


# --- catalog and files ---------------------------------------------------------------------

def test_catalog_lists_exactly_the_csv_files():
    shipped = {
        p.name for p in importlib.resources.files("riskstrat.features.codesets").iterdir()
        if p.name.endswith(".csv")
    }
    listed = [entry["file"] for entry in ENTRIES]
    assert len(listed) == len(set(listed)), "a file is listed twice in catalog.yaml"
    assert set(listed) == shipped
    assert NAMES == [f.removesuffix(".csv") for f in listed], "name must be the file stem"
    assert len(NAMES) == len(set(NAMES))


@pytest.mark.parametrize("entry", ENTRIES, ids=NAMES)
def test_catalog_entry_is_complete(entry):
    for key in ("name", "file", "code_system", "source", "version", "description", "groups"):
        assert key in entry, f"{entry['name']}: missing {key}"
    assert str(entry["source"]).strip() and str(entry["version"]).strip()
    assert str(entry["description"]).strip()
    assert entry["code_system"] in CODE_SYSTEMS
    for group in entry["groups"]:
        assert SNAKE.fullmatch(group["name"]), group
        assert str(group["description"]).strip(), group


@pytest.mark.parametrize("name", NAMES)
def test_file_columns_groups_and_rows(name):
    df = cs.load(name)
    assert list(df.columns) == BASE_COLUMNS + EXTRA_COLUMNS.get(name, [])
    assert len(df) > 0
    assert set(df["match"]) <= {"exact", "prefix"}
    for column in df.columns:
        values = df[column]
        assert (values == values.str.strip()).all(), f"{name}.{column}: stray whitespace"
        assert (values != "").all(), f"{name}.{column}: empty value"
    dupes = df[df.duplicated(["code", "group"], keep=False)]
    assert dupes.empty, f"{name}: duplicate (code, group) rows:\n{dupes}"
    catalog_groups = {g["name"] for g in next(e for e in ENTRIES if e["name"] == name)["groups"]}
    assert set(df["group"]) == catalog_groups, f"{name}: groups in file and catalog differ"


def test_load_keeps_leading_zeros_and_returns_strings():
    util = cs.load("utilization_codes")
    assert "0450" in set(util["code"])
    assert "02" in set(util["code"])
    assert all(dtype == object or str(dtype).startswith("str") for dtype in util.dtypes)
    util.loc[0, "code"] = "changed"
    assert cs.load("utilization_codes").loc[0, "code"] != "changed", "load must return a copy"


def test_unknown_name_lists_known_names():
    with pytest.raises(ValueError, match="icd10cm_sdoh"):
        cs.load("icd10_sdoh")
    with pytest.raises(ValueError, match="foster_care"):
        cs.codes_matching("icd10cm_sdoh", "fostercare")


# --- code formats ------------------------------------------------------------------------

@pytest.mark.parametrize("name", ICD_NAMES)
def test_icd_codes_are_real(name):
    problems = []
    for row in cs.load(name).itertuples(index=False):
        code = row.code
        if code != cs.normalize_icd(code):
            problems.append(f"{code}: not normalised")
        elif not icd.is_valid_item(code):
            problems.append(f"{code}: not in ICD-10-CM")
        elif row.match == "exact" and not icd.is_leaf(code):
            problems.append(f"{code}: exact code is not billable")
        elif row.match == "prefix":
            if not icd.is_category_or_subcategory(code):
                problems.append(f"{code}: prefix is not a category or subcategory")
            elif not (icd.is_leaf(code) or any(icd.is_leaf(d) for d in icd.get_descendants(code))):
                problems.append(f"{code}: prefix has no billable code")
    assert not problems, f"{name}: " + "; ".join(problems[:20])


@pytest.mark.parametrize("name", [n for n in NAMES if n not in ICD_NAMES])
def test_other_code_formats(name):
    patterns = {
        "cpt_hcpcs": {"exact": r"[0-9A-Z]\d{3}[0-9A-Z]"},
        "revenue": {"exact": r"\d{4}", "prefix": r"\d{2,3}"},
        "pos": {"exact": r"\d{2}"},
        "bill_type": {"exact": r"\d{3}", "prefix": r"\d{2}"},
        "ndc": {"exact": r"\d{11}"},
    }
    for row, system in _system_of_rows(name):
        if system == "atc":
            length_ok = len(row.code) == 7 if row.match == "exact" else len(row.code) < 7
            assert length_ok and re.fullmatch(ATC_PATTERNS[len(row.code)], row.code), row
        else:
            assert row.match in patterns[system], row
            assert re.fullmatch(patterns[system][row.match], row.code), row


# --- content of particular sets ------------------------------------------------------------

def test_pmca_flags_and_body_systems():
    pmca = cs.load("pmca_icd10")
    assert set(pmca["progressive"]) == {"0", "1"}
    assert (pmca["group"] == pmca["body_system"]).all()
    assert set(pmca["body_system"]) == PMCA_BODY_SYSTEMS  # brief asks for >= 10; the list has 18
    assert (pmca["match"] == "exact").all()
    by_code = pmca.set_index("code")
    assert by_code.loc["E840", ["body_system", "progressive"]].tolist() == ["pulmonary_respiratory", "1"]
    assert by_code.loc["G800", ["body_system", "progressive"]].tolist() == ["neurological", "1"]
    assert by_code.loc["F840", ["body_system", "progressive"]].tolist() == ["mental_health", "0"]
    assert "J069" not in by_code.index, "a cold is not a chronic condition"


def test_self_harm_poisoning_codes_are_intentional_self_harm():
    rows = cs.codes_matching("icd10cm_suicide_self_harm", "self_harm")
    poisoning = rows[rows["code"].str.match(r"T(3[6-9]|[45]\d|6[0-5])")]
    assert len(poisoning) > 800
    assert (poisoning["match"] == "exact").all()
    assert poisoning["description"].str.contains("intentional self-harm").all()
    assert {"T360X2A", "T391X2D", "T1491XA"} <= set(
        cs.billable_icd_codes("icd10cm_suicide_self_harm", "self_harm")
    )
    assert "T391X1A" not in set(poisoning["code"]), "accidental poisoning is not self-harm"
    assert "T1491XA" in cs.billable_icd_codes("icd10cm_suicide_self_harm", "suicidal_ideation")


def test_sdoh_domains_cover_key_codes():
    expected = {
        "Z6221": "foster_care", "Z5941": "food_insecurity", "Z5982": "transportation",
        "Z59811": "housing_instability", "Z5912": "utilities", "Z553": "education",
    }
    for code, group in expected.items():
        assert cs.groups_for_code("icd10cm_sdoh", code) == [group], code


def test_ndc_products():
    ndc = cs.load("ndc_products")
    assert ndc["code"].str.fullmatch(r"\d{11}").all()
    assert ndc["atc_code"].str.fullmatch(ATC_PATTERNS[7]).all()
    assert ndc["days_supply_typical"].astype(int).between(1, 90).all()
    assert 55 <= ndc["code"].nunique() <= 80
    for row in ndc.itertuples(index=False):
        assert row.group in cs.groups_for_code("atc_drug_classes", row.atc_code), row
    atc_groups = {g["name"] for e in ENTRIES if e["name"] == "atc_drug_classes" for g in e["groups"]}
    counts = ndc.groupby("group")["code"].nunique()
    assert set(counts.index) == atc_groups
    assert (counts >= 2).all(), counts[counts < 2]


def test_atc_precedence_longest_match():
    g = lambda code: cs.groups_for_code("atc_drug_classes", code)  # noqa: E731
    assert g("N06BA04") == ["stimulant"]  # methylphenidate
    assert g("N06BA09") == ["nonstimulant_adhd"]  # atomoxetine: exact beats the N06BA prefix
    assert g("N05AN01") == ["mood_stabilizer"]  # lithium: not an antipsychotic here
    assert g("N05AX08") == ["antipsychotic"]  # risperidone
    assert g("N03AG01") == ["anticonvulsant", "mood_stabilizer"]  # valproate: both, on purpose
    assert g("N03AX14") == ["anticonvulsant"]  # levetiracetam
    assert g("R03AC02") == ["asthma_reliever"]
    assert g("J01CA04") == []


def test_mixed_set_needs_code_system():
    assert cs.groups_for_code("utilization_codes", "0114", "revenue") == [
        "inpatient_room_board", "psych_room_board"]
    assert cs.groups_for_code("utilization_codes", "111", "bill_type") == ["inpatient_bill_type"]
    assert cs.groups_for_code("utilization_codes", "11", "pos") == []  # office, not bill type 11x
    with pytest.raises(ValueError, match="code_system"):
        cs.groups_for_code("utilization_codes", "11")


# --- expansion to billable codes -------------------------------------------------------------

@pytest.mark.parametrize("name", ICD_NAMES)
def test_billable_icd_codes_every_group(name):
    for group in sorted(set(cs.load(name)["group"])):
        codes = cs.billable_icd_codes(name, group)
        assert codes, f"{name}/{group}: no billable code"
        assert codes == sorted(set(codes))
        assert codes == cs.billable_icd_codes(name, group), "must be deterministic"
        bad = [c for c in codes if not (icd.is_valid_item(c) and icd.is_leaf(c)) or "." in c]
        assert not bad, f"{name}/{group}: {bad[:5]}"
        assert all(group in cs.groups_for_code(name, c) for c in codes)


def test_billable_icd_codes_expands_prefixes():
    depression = cs.billable_icd_codes("icd10cm_behavioral_health", "depression")
    assert {"F329", "F32A", "F331", "F3481"} <= set(depression)
    assert "F32" not in depression and "F410" not in depression
    with pytest.raises(ValueError, match="not icd10cm"):
        cs.billable_icd_codes("atc_drug_classes", "stimulant")


def test_normalize_icd():
    assert cs.normalize_icd(" f32.9 ") == "F329"
    assert cs.normalize_icd("R45.851") == "R45851"
    assert cs.normalize_icd("T14.91XA") == "T1491XA"


def test_public_functions_are_documented():
    for fname in cs.__all__:
        assert inspect.getdoc(getattr(cs, fname)), fname
