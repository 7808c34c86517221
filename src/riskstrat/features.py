"""As-of features: each declared once, and everything else generated from the declarations.

A :class:`Feature` says what a column measures, over which window, from which source tables and
code-set group, how to word it as a reason an outreach worker reads ("3 ED visits in the last 6
months"), and whether more of it may ever lower risk (a monotone-constraint hint for the model).
From :data:`FEATURES` come the feature table's columns (:func:`build_features`), the catalogue
``docs/features.md`` (:func:`catalogue_markdown`), the reason text (:func:`reason_text`) and the
model's monotone constraints (:func:`monotone_constraints`).

The clinical rules live in ``sql/features/<concept>.sql``, one concept per file, each opening
with its rule in plain English. A concept yields events (``person_id, event_date`` and perhaps a
group, flag or amount) or one row per child; a feature declares how its concept's events are
aggregated over its window. The SQL reads two small tables besides the lake and the code sets:
``params`` (the as-of month, what was known by when, the windows) and ``calendar`` (the months of
the window), so the same concept serves features (known at T, looking back) and labels (known
later, looking forward) — see :mod:`riskstrat.labels`.

What was known at T: claims delivered by T and paid by the last day of T (final-claim rule
applied to those only), with services by then; ADT messages delivered by T and sent by then;
screenings delivered by T; eligibility from the snapshot delivered in T. Race and ethnicity are
never features; they are kept for fairness audits only.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import tempfile
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import date
from functools import cache
from pathlib import Path

import duckdb
import pandas as pd
import sqlglot
from sqlglot import exp

from riskstrat.config import Settings
from riskstrat.contracts import month_end
from riskstrat.design import add_months, check_month, months_between

# Aggregates a declaration may ask of its concept's rows; the SQL for each is generated below.
AGGREGATES = {
    "count": "number of events in the window",
    "days": "number of distinct days with an event in the window",
    "any": "1 if any event in the window, else 0",
    "none": "1 if no event in the window (a care gap), else 0",
    "sum": "sum of the events' value in the window",
    "distinct_groups": "number of distinct code-set groups with an event in the window",
    "trend": "events per month in the last 3 months minus events per month in the 9 months before",
    "pmpm": "paid amount per enrolled month in the window",
    "pmpm_trend": "paid per enrolled month in the last 3 months minus the same in the 9 months before",
    "value": "the child's value of a column of a one-row-per-child concept",
}
KINDS = ("count", "flag", "amount", "months", "years", "ordinal", "rate")


@dataclass(frozen=True)
class Feature:
    """One model input, declared once.

    ``reason`` is a template filled with the child's value: ``{value}`` (formatted for the kind),
    ``{s}`` (plural ending), ``{window}``. For flags it is the sentence when the flag is set;
    ``reason_absent`` (default "No " + reason) when it is not.
    """

    name: str
    family: str
    concept: str
    aggregate: str
    description: str
    reason: str
    kind: str
    sources: tuple[str, ...]
    window_months: int | None = None
    monotone: int = 0
    codeset: str | None = None
    group: str | None = None
    column: str | None = None
    flag: str | None = None
    missing: float | None = 0
    reason_absent: str | None = None

    def __post_init__(self) -> None:
        problems = []
        if not re.fullmatch(r"[a-z][a-z0-9_]*", self.name):
            problems.append("name must be snake_case")
        if self.aggregate not in AGGREGATES:
            problems.append(f"aggregate {self.aggregate!r} is not one of {sorted(AGGREGATES)}")
        if self.kind not in KINDS:
            problems.append(f"kind {self.kind!r} is not one of {KINDS}")
        if self.monotone not in (-1, 0, 1):
            problems.append("monotone must be -1, 0 or 1")
        if self.aggregate == "value" and not self.column:
            problems.append("a value feature names its column")
        if self.aggregate in ("trend", "pmpm_trend") and self.window_months != 12:
            problems.append("trends compare the last 3 months with the 9 before: window 12")
        if self.aggregate not in ("value",) and self.aggregate != "any" and self.window_months is None:
            problems.append("a windowed aggregate needs window_months")
        if problems:
            raise ValueError(f"feature {self.name}: " + "; ".join(problems))

    @property
    def monotone_hint(self) -> str:
        return {1: "never lowers risk", -1: "never raises risk", 0: "free"}[self.monotone]


CLAIMS = ("medical_claim",)
CLAIMS_ADT = ("medical_claim", "ed_visit")
BH_SET = "icd10cm_behavioral_health"

# The behavioural-health condition groups of icd10cm_behavioral_health, as a reason reads them.
_BH_GROUPS = (
    ("depression", "Depression"),
    ("anxiety", "Anxiety disorder"),
    ("adhd", "ADHD"),
    ("bipolar", "Bipolar disorder"),
    ("psychotic", "Psychotic disorder"),
    ("trauma_ptsd", "Trauma or PTSD"),
    ("conduct_odd", "Conduct disorder or ODD"),
    ("autism_developmental", "Autism or developmental disorder"),
    ("eating_disorder", "Eating disorder"),
    ("substance_use", "Substance use disorder"),
    ("other_behavioral", "Other behavioural-health condition"),
)
# Social-need domains: ICD-10-CM Z55-Z65 groups of icd10cm_sdoh and, for the first eight, the
# domains of sdoh_screening.
_SDOH_DOMAINS = (
    ("housing_instability", "Housing instability"),
    ("food_insecurity", "Food insecurity"),
    ("transportation", "Transportation need"),
    ("utilities", "Utilities need"),
    ("interpersonal_safety", "Interpersonal safety concern"),
    ("caregiver_stress", "Caregiver stress"),
    ("education", "Education problem"),
    ("employment", "Household employment problem"),
    ("family_disruption", "Family disruption"),
    ("other_social", "Other social need"),
)
# Drug classes of atc_drug_classes read as psychotropics by a BH care manager, and others.
_DRUG_CLASSES = (
    ("stimulant", "Stimulant (ADHD) fill", 1),
    ("alpha_agonist_adhd", "Alpha-agonist (ADHD) fill", 1),
    ("nonstimulant_adhd", "Non-stimulant ADHD medicine fill", 1),
    ("antidepressant", "Antidepressant fill", 1),
    ("antipsychotic", "Antipsychotic fill", 1),
    ("mood_stabilizer", "Mood stabiliser fill", 1),
    ("anxiolytic", "Anxiolytic fill", 1),
    ("anticonvulsant", "Anticonvulsant fill", 1),
    ("asthma_controller", "Asthma controller fill", 0),
    ("asthma_reliever", "Asthma reliever (rescue inhaler) fill", 1),
    ("insulin", "Insulin fill", 1),
    ("other_diabetes", "Other diabetes medicine fill", 1),
)
PSYCHOTROPIC_CLASSES = tuple(g for g, _, _ in _DRUG_CLASSES[:7])


def _declare() -> tuple[Feature, ...]:
    f: list[Feature] = []
    add = f.append

    # -- demographics (race and ethnicity deliberately absent: fairness audits only) ----------
    add(Feature("age_years", "demographics", "population", "value", column="age_years",
                description="Age in whole years on the last day of the as-of month.",
                reason="Age {value}", kind="years", sources=("eligibility",), missing=None))
    add(Feature("sex_female", "demographics", "population", "value", column="sex_female",
                description="1 if the plan records the child's gender as female.",
                reason="Female", reason_absent="Not recorded as female", kind="flag", sources=("eligibility",)))

    # -- enrolment ----------------------------------------------------------------------------
    add(Feature("enrolled_months_12m", "enrolment", "enrolled_months", "count", window_months=12,
                description="Calendar months with any enrolment in the last 12 months (snapshot of the as-of month).",
                reason="Enrolled {value} month{s} of the last 12", kind="months", sources=("eligibility",)))
    add(Feature("enrolment_gaps_12m", "enrolment", "enrolment_gaps", "count", window_months=12,
                description="Times the child re-enrolled after a month or more without coverage in the last 12 months.",
                reason="{value} break{s} in coverage in the last 12 months", kind="count", sources=("eligibility",)))

    # -- aid category and child welfare --------------------------------------------------------
    for group, text in (("foster_care", "In foster care (aid category)"),
                        ("adoption_assistance", "Adoption assistance (aid category)"),
                        ("ssi_disabled", "SSI / disability (aid category)"),
                        ("chip", "CHIP (aid category)")):
        add(Feature(f"aid_{group}", "aid_category", "aid_category", "any", group=group,
                    description=f"1 if enrolled at the as-of month under the {group} aid category.",
                    reason=text, kind="flag", sources=("eligibility",), monotone=0))
    add(Feature("foster_care", "aid_category", "foster_care", "value", column="in_foster_care",
                window_months=12, codeset="icd10cm_sdoh", group="foster_care",
                description="1 if in the foster-care aid category at the as-of month, or a child-in-welfare-custody "
                            "diagnosis (Z62.21-) in the last 12 months.",
                reason="In foster care or child-welfare custody", kind="flag",
                sources=("eligibility", "medical_claim", "ed_visit"), monotone=1))

    # -- emergency department -------------------------------------------------------------------
    for w in (3, 6, 12):
        add(Feature(f"ed_visits_{w}m", "ed", "ed_visits", "count", window_months=w,
                    codeset="utilization_codes", group="ed_visit",
                    description=f"Emergency-department visits in the last {w} months, from claims and ADT, "
                                "each visit counted once (see ed_visit_records.sql).",
                    reason="{value} ED visit{s} in the last {window} months", kind="count",
                    sources=CLAIMS_ADT, monotone=1))
    add(Feature("ed_visits_trend", "trends", "ed_visits", "trend", window_months=12,
                description="ED visits per month in the last 3 months minus per month in the 9 months before.",
                reason="ED visits rising ({value:+.2f} a month vs the 9 months before)", kind="rate",
                sources=CLAIMS_ADT, monotone=0))
    for w in (3, 6, 12):
        add(Feature(f"bh_ed_visits_{w}m", "bh_ed", "bh_ed_visits", "count", window_months=w,
                    codeset=BH_SET,
                    description=f"ED visits in the last {w} months with a behavioural-health principal diagnosis "
                                "or any suicidal-ideation / self-harm diagnosis.",
                    reason="{value} behavioural-health ED visit{s} in the last {window} months", kind="count",
                    sources=CLAIMS_ADT, monotone=1))

    # -- inpatient -------------------------------------------------------------------------------
    add(Feature("ip_admits_12m", "inpatient", "inpatient_stays", "count", window_months=12,
                codeset="utilization_codes", group="inpatient_bill_type",
                description="Inpatient admissions (stays) beginning in the last 12 months.",
                reason="{value} hospital admission{s} in the last 12 months", kind="count",
                sources=CLAIMS, monotone=1))
    add(Feature("psych_ip_admits_12m", "inpatient", "inpatient_stays", "count", window_months=12, flag="psychiatric",
                codeset="utilization_codes", group="psych_room_board",
                description="Psychiatric inpatient admissions (psychiatric room and board or BH principal diagnosis) "
                            "in the last 12 months.",
                reason="{value} psychiatric hospital admission{s} in the last 12 months", kind="count",
                sources=CLAIMS, monotone=1))
    add(Feature("readmissions_30d_12m", "inpatient", "readmissions", "count", window_months=12,
                description="Admissions in the last 12 months within 30 days of an earlier discharge.",
                reason="{value} readmission{s} within 30 days of a discharge in the last 12 months", kind="count",
                sources=CLAIMS, monotone=1))

    # -- behavioural-health conditions -------------------------------------------------------------
    for group, text in _BH_GROUPS:
        add(Feature(f"dx_{group}_12m", "bh_conditions", "diagnoses", "any", window_months=12,
                    codeset=BH_SET, group=group,
                    description=f"1 if any claim or ADT diagnosis in the last 12 months is in the {group} group.",
                    reason=f"{text} diagnosis in the last 12 months", kind="flag", sources=CLAIMS_ADT, monotone=1))
    add(Feature("bh_condition_groups_12m", "bh_conditions", "diagnoses", "distinct_groups", window_months=12,
                codeset=BH_SET,
                description="Number of distinct behavioural-health condition groups diagnosed in the last 12 months.",
                reason="{value} different behavioural-health condition{s} in the last 12 months", kind="count",
                sources=CLAIMS_ADT, monotone=1))

    # -- suicidality, self-harm, maltreatment -----------------------------------------------------
    add(Feature("dx_suicidal_ideation_12m", "suicide_self_harm", "diagnoses", "any", window_months=12,
                codeset="icd10cm_suicide_self_harm", group="suicidal_ideation",
                description="1 if suicidal ideation (R45.851) was diagnosed in the last 12 months.",
                reason="Suicidal ideation recorded in the last 12 months", kind="flag", sources=CLAIMS_ADT, monotone=1))
    add(Feature("dx_self_harm_12m", "suicide_self_harm", "diagnoses", "any", window_months=12,
                codeset="icd10cm_suicide_self_harm", group="self_harm",
                description="1 if intentional self-harm or self-poisoning was coded in the last 12 months.",
                reason="Self-harm recorded in the last 12 months", kind="flag", sources=CLAIMS_ADT, monotone=1))
    add(Feature("dx_suicide_self_harm_3m", "suicide_self_harm", "diagnoses", "any", window_months=3,
                codeset="icd10cm_suicide_self_harm", group="suicidal_ideation,self_harm",
                description="1 if suicidal ideation, a suicide attempt or self-harm was coded in the last 3 months: "
                            "a crisis now rather than in the past year.",
                reason="Suicidal ideation or self-harm recorded in the last 3 months", kind="flag", sources=CLAIMS_ADT,
                monotone=1))
    add(Feature("dx_maltreatment_12m", "maltreatment", "diagnoses", "any", window_months=12,
                codeset="icd10cm_maltreatment", group="maltreatment_confirmed,maltreatment_suspected",
                description="1 if child maltreatment (confirmed or suspected abuse or neglect) was coded in the last "
                            "12 months.",
                reason="Child maltreatment recorded in the last 12 months", kind="flag", sources=CLAIMS_ADT,
                monotone=1))

    # -- medical complexity (PMCA) ------------------------------------------------------------------
    add(Feature("pmca_class", "medical_complexity", "pmca", "value", column="pmca_class", window_months=12,
                codeset="pmca_icd10",
                description="PMCA, less conservative version, last 12 months: 2 complex chronic (2+ body systems, "
                            "progressive or malignancy), 1 non-complex chronic (1 body system), 0 none.",
                reason="Medical complexity: PMCA class {value} of 2", kind="ordinal", sources=CLAIMS_ADT, monotone=1))
    add(Feature("pmca_body_systems", "medical_complexity", "pmca", "value", column="body_systems", window_months=12,
                codeset="pmca_icd10",
                description="Number of PMCA body systems with a chronic condition in the last 12 months.",
                reason="Chronic conditions in {value} body system{s}", kind="count", sources=CLAIMS_ADT, monotone=1))
    add(Feature("pmca_progressive", "medical_complexity", "pmca", "value", column="progressive", window_months=12,
                codeset="pmca_icd10",
                description="1 if a PMCA progressive condition was diagnosed in the last 12 months.",
                reason="Progressive chronic condition", kind="flag", sources=CLAIMS_ADT, monotone=1))
    add(Feature("pmca_malignancy", "medical_complexity", "pmca", "value", column="malignancy", window_months=12,
                codeset="pmca_icd10", group="malignancy",
                description="1 if a malignancy was diagnosed in the last 12 months.",
                reason="Cancer diagnosis in the last 12 months", kind="flag", sources=CLAIMS_ADT, monotone=1))
    add(Feature("chronic_condition_groups_12m", "medical_complexity", "diagnoses", "distinct_groups",
                window_months=12, codeset="icd10cm_chronic_conditions",
                description="Number of distinct chronic-condition groups (icd10cm_chronic_conditions) in the last "
                            "12 months.",
                reason="{value} chronic condition{s} in the last 12 months", kind="count", sources=CLAIMS_ADT,
                monotone=1))
    add(Feature("chronic_condition_days_3m", "medical_complexity", "diagnoses", "days", window_months=3,
                codeset="icd10cm_chronic_conditions",
                description="Days in the last 3 months with a visit, ED visit or stay coded with a chronic condition "
                            "(icd10cm_chronic_conditions): a flare brings the child in more often.",
                reason="{value} day{s} of care for a chronic condition in the last 3 months", kind="count",
                sources=CLAIMS_ADT, monotone=1))

    # -- medicines -----------------------------------------------------------------------------------
    for group, text, mono in _DRUG_CLASSES:
        add(Feature(f"rx_{group}_12m", "medicines", "drug_fills", "count", window_months=12,
                    codeset="atc_drug_classes", group=group,
                    description=f"Fills of {group} drugs (ATC) in the last 12 months.",
                    reason=f"{{value}} {text[0].lower() + text[1:]}{{s}} in the last 12 months", kind="count",
                    sources=("pharmacy_claim",), monotone=mono))
    add(Feature("rx_asthma_reliever_3m", "medicines", "drug_fills", "count", window_months=3,
                codeset="atc_drug_classes", group="asthma_reliever",
                description="Fills of asthma relievers (rescue inhalers, ATC) in the last 3 months: asthma out of "
                            "control now.",
                reason="{value} asthma reliever (rescue inhaler) fill{s} in the last 3 months", kind="count",
                sources=("pharmacy_claim",), monotone=1))
    add(Feature("psychotropic_classes_12m", "medicines", "drug_fills", "distinct_groups", window_months=12,
                codeset="atc_drug_classes", group=",".join(PSYCHOTROPIC_CLASSES),
                description="Number of distinct psychotropic classes filled in the last 12 months.",
                reason="{value} psychotropic medicine class{es} in the last 12 months", kind="count",
                sources=("pharmacy_claim",), monotone=1))
    add(Feature("antipsychotic_concurrent_days", "medicines", "antipsychotic_polypharmacy", "value",
                column="concurrent_days", window_months=12, codeset="atc_drug_classes", group="antipsychotic",
                description="Longest overlap in days of two different antipsychotics' supply in the last 12 months.",
                reason="{value} days on two antipsychotics at once", kind="count", sources=("pharmacy_claim",),
                monotone=1))
    add(Feature("antipsychotic_polypharmacy", "medicines", "antipsychotic_polypharmacy", "value",
                column="polypharmacy", window_months=12, codeset="atc_drug_classes", group="antipsychotic",
                description="1 if two or more antipsychotics overlapped for 90 days or more in the last 12 months.",
                reason="Two or more antipsychotics together for 90+ days", kind="flag", sources=("pharmacy_claim",),
                monotone=1))

    # -- outpatient behavioural health and follow-up --------------------------------------------------
    add(Feature("bh_outpatient_visits_12m", "bh_outpatient", "bh_outpatient_visits", "count", window_months=12,
                codeset="utilization_codes", group="bh_outpatient",
                description="Days with an outpatient behavioural-health visit in the last 12 months.",
                reason="{value} outpatient behavioural-health visit{s} in the last 12 months", kind="count",
                sources=CLAIMS, monotone=0))
    add(Feature("bh_outpatient_visits_3m", "bh_outpatient", "bh_outpatient_visits", "count", window_months=3,
                codeset="utilization_codes", group="bh_outpatient",
                description="Days with an outpatient behavioural-health visit in the last 3 months: how active "
                            "treatment is now.",
                reason="{value} outpatient behavioural-health visit{s} in the last 3 months", kind="count",
                sources=CLAIMS, monotone=0))
    add(Feature("cans_assessment_6m", "bh_outpatient", "bh_needs_assessments", "any", window_months=6,
                description="1 if a CANS (Child and Adolescent Needs and Strengths) assessment was completed in the "
                            "last 6 months: done when a child enters behavioural-health services or their needs "
                            "change.",
                reason="Behavioural-health needs assessment (CANS) in the last 6 months",
                reason_absent="No behavioural-health needs assessment (CANS) in the last 6 months", kind="flag",
                sources=("sdoh_screening",), monotone=1))
    add(Feature("bh_ed_no_followup_7d_12m", "bh_outpatient", "bh_ed_followup", "count", window_months=12,
                flag="no_followup_7d",
                description="Behavioural-health ED visits in the last 12 months with no outpatient BH visit within 7 "
                            "days.",
                reason="{value} behavioural-health ED visit{s} without follow-up within 7 days", kind="count",
                sources=CLAIMS_ADT, monotone=1))
    add(Feature("bh_ed_no_followup_30d_12m", "bh_outpatient", "bh_ed_followup", "count", window_months=12,
                flag="no_followup_30d",
                description="Behavioural-health ED visits in the last 12 months with no outpatient BH visit within 30 "
                            "days.",
                reason="{value} behavioural-health ED visit{s} without follow-up within 30 days", kind="count",
                sources=CLAIMS_ADT, monotone=1))

    # -- social needs ---------------------------------------------------------------------------------
    for group, text in _SDOH_DOMAINS:
        add(Feature(f"sdoh_{group}_12m", "sdoh", "sdoh_needs", "any", window_months=12,
                    codeset="icd10cm_sdoh", group=group,
                    description=f"1 if a {group} Z-code or a positive {group} screening in the last 12 months.",
                    reason=f"{text} noted in the last 12 months", kind="flag",
                    sources=("medical_claim", "ed_visit", "sdoh_screening"), monotone=1))
    add(Feature("sdoh_domains_12m", "sdoh", "sdoh_needs", "distinct_groups", window_months=12, codeset="icd10cm_sdoh",
                description="Number of distinct social-need domains noted in the last 12 months.",
                reason="{value} social need{s} noted in the last 12 months", kind="count",
                sources=("medical_claim", "ed_visit", "sdoh_screening"), monotone=1))

    # -- household -----------------------------------------------------------------------------------
    add(Feature("household_sdoh_domains_6m", "household", "household_social_needs", "distinct_groups",
                window_months=6, codeset="icd10cm_sdoh",
                description="Number of distinct social-need domains noted in the last 6 months for the child or anyone "
                            "else on the same case (subscriber_id), from Z-codes and positive screenings.",
                reason="{value} social need{s} noted for the household in the last 6 months", kind="count",
                sources=("eligibility", "medical_claim", "ed_visit", "sdoh_screening"), monotone=1))
    add(Feature("sibling_ed_visits_6m", "household", "sibling_ed_visits", "count", window_months=6,
                codeset="utilization_codes", group="ed_visit",
                description="ED visits in the last 6 months of the other children (aged 0-20) on the same case "
                            "(subscriber_id), each visit counted once.",
                reason="{value} ED visit{s} by brothers or sisters in the last 6 months", kind="count",
                sources=("eligibility", "medical_claim", "ed_visit"), monotone=1))

    # -- care gaps ------------------------------------------------------------------------------------
    add(Feature("no_well_child_visit_12m", "care_gaps", "well_child_visits", "none", window_months=12,
                codeset="utilization_codes", group="well_child",
                description="1 if no well-child (preventive) visit in the last 12 months.",
                reason="No well-child visit in the last 12 months",
                reason_absent="Had a well-child visit in the last 12 months", kind="flag", sources=CLAIMS))
    add(Feature("no_dental_visit_12m", "care_gaps", "dental_visits", "none", window_months=12,
                codeset="utilization_codes", group="dental_visit",
                description="1 if no dental visit in the last 12 months.",
                reason="No dental visit in the last 12 months",
                reason_absent="Had a dental visit in the last 12 months", kind="flag", sources=CLAIMS))

    # -- cost -----------------------------------------------------------------------------------------
    add(Feature("paid_pmpm_12m", "cost", "paid_amounts", "pmpm", window_months=12, missing=None,
                description="Paid medical and pharmacy claims per enrolled month over the last 12 months.",
                reason="{value} paid per month of coverage in the last 12 months", kind="amount",
                sources=("medical_claim", "pharmacy_claim", "eligibility"), monotone=1))
    add(Feature("paid_pmpm_trend", "trends", "paid_amounts", "pmpm_trend", window_months=12, missing=None,
                description="Paid per enrolled month in the last 3 months minus the same in the 9 months before.",
                reason="Cost rising ({value} a month more than the 9 months before)", kind="amount",
                sources=("medical_claim", "pharmacy_claim", "eligibility"), monotone=0))
    return tuple(f)


FEATURES: tuple[Feature, ...] = _declare()
_BY_NAME = {f.name: f for f in FEATURES}
if len(_BY_NAME) != len(FEATURES):  # pragma: no cover - a duplicated declaration is a coding error
    raise ValueError("two features share a name")


def feature_names() -> list[str]:
    """The feature table's columns after ``person_id``, in declaration order."""
    return [f.name for f in FEATURES]


def get_feature(name: str) -> Feature:
    """The declaration of one feature, by name (a KeyError names the catalogue to look in)."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise KeyError(f"no feature named {name!r}; see docs/features.md") from None


def monotone_constraints() -> list[int]:
    """Per feature, in :func:`feature_names` order: 1 if more of it must never lower risk, else 0/-1."""
    return [f.monotone for f in FEATURES]


def catalogue_hash() -> str:
    """A short hash of every declaration, so a model can tell the catalogue it was trained on."""
    payload = json.dumps([asdict(f) for f in FEATURES], sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


# ---- reasons ---------------------------------------------------------------------------------


def _format_value(feature: Feature, value: float) -> str:
    if feature.kind == "amount":
        return f"{'-' if value < 0 else ''}${abs(value):,.0f}"
    if feature.kind == "rate":
        return f"{value:.2f}"
    if float(value).is_integer():
        return f"{value:.0f}"
    return f"{value:.1f}"


def reason_text(feature_name: str, value: float | int | None) -> str:
    """The plain-language reason for a child's value of a feature, e.g. "3 ED visits in the last 6 months"."""
    feature = get_feature(feature_name)
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return f"{feature.description.rstrip('.')}: not known"
    value = float(value)
    if feature.kind == "flag":
        if value >= 0.5:
            return feature.reason
        return feature.reason_absent or "No " + feature.reason[0].lower() + feature.reason[1:]
    plural = "" if value == 1 else "s"
    template = feature.reason
    if "{value:" in template:  # the template formats the number itself
        return template.format(value=value, s=plural, es="" if value == 1 else "es", window=feature.window_months)
    return template.format(value=_format_value(feature, value), s=plural, es="" if value == 1 else "es",
                           window=feature.window_months)


# ---- the catalogue -----------------------------------------------------------------------------

FAMILY_TITLES = {
    "demographics": "Demographics",
    "enrolment": "Enrolment",
    "aid_category": "Aid category and child welfare",
    "ed": "Emergency department",
    "trends": "Trends",
    "bh_ed": "Behavioural-health ED visits",
    "inpatient": "Inpatient and psychiatric admissions",
    "bh_conditions": "Behavioural-health conditions",
    "suicide_self_harm": "Suicidal ideation and self-harm",
    "maltreatment": "Child maltreatment",
    "medical_complexity": "Medical complexity (PMCA)",
    "medicines": "Medicines",
    "bh_outpatient": "Outpatient behavioural health and follow-up",
    "sdoh": "Social needs (SDoH)",
    "household": "Household (the child's case)",
    "care_gaps": "Care gaps",
    "cost": "Cost",
}
_MONOTONE_WORDS = {1: "↑ never lowers risk", -1: "↓ never raises risk", 0: "free"}


def catalogue_markdown() -> str:
    """docs/features.md, generated from :data:`FEATURES` (a test checks the committed file matches)."""
    lines = [
        "# Feature catalogue",
        "",
        "<!-- Generated by riskstrat.features.catalogue_markdown() from the declarations in",
        "     src/riskstrat/features.py. Do not edit by hand: change the declaration and regenerate with",
        "     `.venv/bin/python -c 'import riskstrat.features as f; f.write_catalogue()'`. -->",
        "",
        f"Catalogue hash `{catalogue_hash()}` · {len(FEATURES)} features · one row per child aged 0–20 and "
        "enrolled on the last day of the as-of month T.",
        "",
        "**What was known at T.** Medical and pharmacy claims delivered by T and paid by the last day of T, with "
        "the final-claim rule applied to those lines only; services on or before the last day of T. ADT "
        "emergency-department messages delivered by T and sent (else arrived) by then. Screenings delivered by T. "
        "Eligibility from the snapshot delivered in T. Windows end on the last day of T: \"last 12 months\" is "
        "T-11 … T.",
        "",
        "**Not features.** Race and ethnicity are never model inputs: they are kept in the lake for fairness "
        "audits only. Names, contact details and free text (ADT chief complaint) are never read here.",
        "",
        "**Rules.** Each clinical rule is one file in `src/riskstrat/sql/features/`, opening with the rule in plain "
        "English; code sets are the CSV files of `src/riskstrat/codesets/`.",
        "",
        "- ED visit: a paid claim line with place of service 23, revenue centre 045x or CPT 99281–99285, or an "
        "ADT arrival. One visit is counted once: records of the same child on the same day are one visit, and a "
        "record at the same facility the day after another continues it.",
        "- PMCA: the *less conservative* version of the Pediatric Medical Complexity Algorithm (Simon et al., "
        "Pediatrics 2014) over a 12-month lookback (the published algorithm looks back up to 3 years): one "
        "diagnosis flags a body system; complex chronic = 2+ body systems, or a progressive condition, or "
        "malignancy; non-complex chronic = 1 body system.",
        "- Antipsychotic polypharmacy: two different antipsychotics (ATC level 5) whose supply spans (first fill to "
        "last day supplied, gaps included) overlap 90 days or more — an approximation of HEDIS APP from fills.",
        "- Trends: events (or paid per enrolled month) per month in the last 3 months minus the 9 months before.",
        "",
        "Monotone hint: `↑` means more of the feature must never lower the predicted risk (the model may use it "
        "as a LightGBM monotone constraint).",
        "",
    ]
    families: dict[str, list[Feature]] = {}
    for f in FEATURES:
        families.setdefault(f.family, []).append(f)
    for family, feats in families.items():
        lines += [f"## {FAMILY_TITLES.get(family, family)}", "",
                  "| feature | what it measures | window | kind | sources | code set / group | rule | monotone | "
                  "reason, e.g. |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for f in feats:
            example = {"flag": 1, "amount": 412.0, "rate": 0.33, "ordinal": 2, "years": 7}.get(f.kind, 3)
            if f.codeset:
                codes = f"{f.codeset}{' / ' + f.group if f.group else ''}"
            else:
                codes = f"{f.concept} = {f.group}" if f.group else "—"
            window = f"{f.window_months} months" if f.window_months else "at T"
            lines.append(
                f"| `{f.name}` | {f.description} | {window} | {f.kind} | {', '.join(f.sources)} | {codes} | "
                f"`{f.concept}.sql` ({f.aggregate}{', ' + f.flag if f.flag else ''}) | "
                f"{_MONOTONE_WORDS[f.monotone]} | {reason_text(f.name, example)} |"
            )
        lines.append("")
    return "\n".join(lines)


def catalogue_path() -> Path:
    """Where the generated feature catalogue lives in the source tree."""
    return Path(__file__).resolve().parents[2] / "docs" / "features.md"


def write_catalogue(path: Path | None = None) -> Path:
    """Regenerate docs/features.md from the declarations."""
    path = path or catalogue_path()
    path.write_text(catalogue_markdown(), encoding="utf-8")
    return path


# ---- concepts: the SQL files and their order -----------------------------------------------------

# Code sets the concept SQL joins to, each registered as table codeset_<name>.
CODESETS = (
    "icd10cm_behavioral_health",
    "icd10cm_suicide_self_harm",
    "icd10cm_maltreatment",
    "icd10cm_sdoh",
    "pmca_icd10",
    "icd10cm_chronic_conditions",
    "icd10cm_routine",
    "utilization_codes",
    "atc_drug_classes",
    "ndc_products",
)


def sql_dir() -> Path:
    """The folder of the one-concept feature SQL files."""
    return Path(__file__).resolve().parent / "sql" / "features"


@cache
def concept_sql(concept: str) -> str:
    path = sql_dir() / f"{concept}.sql"
    if not path.exists():
        raise FileNotFoundError(f"no concept file sql/features/{concept}.sql")
    return path.read_text(encoding="utf-8")


@cache
def _concept_names() -> frozenset[str]:
    return frozenset(p.stem for p in sql_dir().glob("*.sql")) - HELPERS


@cache
def concept_dependencies(concept: str) -> frozenset[str]:
    """The other concepts a concept's SQL reads (found by parsing it, so the files stay the truth)."""
    tree = sqlglot.parse_one(concept_sql(concept), read="duckdb")
    ctes = {cte.alias_or_name for cte in tree.find_all(exp.CTE)}
    tables = {t.name for t in tree.find_all(exp.Table)}
    return frozenset((tables - ctes) & (_concept_names() - {concept}))


def concept_order(wanted: Iterable[str]) -> list[str]:
    """The wanted concepts and everything they read, each after what it reads."""
    order: list[str] = []
    visiting: set[str] = set()

    def visit(name: str) -> None:
        if name in order:
            return
        if name in visiting:
            raise ValueError(f"concept {name} depends on itself")
        visiting.add(name)
        for dep in sorted(concept_dependencies(name)):
            visit(dep)
        visiting.discard(name)
        order.append(name)

    for name in wanted:
        visit(name)
    return order


# ---- months and parameters -----------------------------------------------------------------------


def month_start(month: str) -> date:
    """The first day of a YYYY-MM month."""
    return date(int(month[:4]), int(month[5:7]), 1)


def data_window_months() -> int:
    """The longest look-back any feature declares: how much history a build must read."""
    return max(f.window_months or 0 for f in FEATURES)


def _windows() -> list[int]:
    return sorted({f.window_months for f in FEATURES if f.window_months} | {3})


def set_params(con: duckdb.DuckDBPyConnection, *, as_of: str, known_month: str, first_month: str,
               last_month: str) -> None:
    """Write the one-row ``params`` table and the ``calendar`` of months the concept SQL reads.

    ``as_of`` names the population (eligibility snapshot) and the end of feature windows;
    ``known_month`` is the last delivery (and its last day the last paid/sent date) the SQL may
    see; services from the first day of ``first_month`` to the last of ``last_month`` are read.
    """
    row = {
        "as_of_month": as_of,
        "as_of_date": month_end(as_of),
        "known_month": known_month,
        "known_date": month_end(known_month),
        "window_start": month_start(first_month),
        "window_end": month_end(last_month),
    }
    for w in _windows():
        row[f"start_{w}m"] = month_start(add_months(as_of, -(w - 1)))
    params = pd.DataFrame([row])
    months = [{"month_key": m, "month_start": month_start(m), "month_end": month_end(m), "month_index": i}
              for i, m in enumerate(months_between(first_month, last_month))]
    _replace_table(con, "params", params)
    _replace_table(con, "calendar", pd.DataFrame(months))


def _replace_table(con: duckdb.DuckDBPyConnection, name: str, frame: pd.DataFrame) -> None:
    con.register("_riskstrat_frame", frame)
    try:
        con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT * FROM _riskstrat_frame")
    finally:
        con.unregister("_riskstrat_frame")


def register_codesets(con: duckdb.DuckDBPyConnection) -> None:
    """Load every code set the concept SQL joins to as table ``codeset_<name>`` (``group`` → ``grp``)."""
    from riskstrat import codesets

    for name in CODESETS:
        frame = codesets.load(name).rename(columns={"group": "grp"})
        _replace_table(con, f"codeset_{name}", frame)


# Concepts read final claims under these names: the lake's final-claim rule
# (riskstrat.lake.final_claims_sql), run as of the knowledge month over the claims that can
# matter for the window (<table>_window.sql), inlined as CTEs so nothing but the concept's own
# rows is materialised. The window is written into the rule where it reads the table rather
# than as a CTE of its own: the rule reads it twice (a few columns to pick each claim's version,
# then the lines), and DuckDB materialises a CTE read twice, every column of every line.
FINAL_CLAIMS = {"final_medical_claim": "medical_claim", "final_pharmacy_claim": "pharmacy_claim"}
HELPERS = frozenset(f"{table}_window" for table in FINAL_CLAIMS.values())


@cache
def _tables_read(concept: str) -> frozenset[str]:
    return frozenset(t.name for t in sqlglot.parse_one(concept_sql(concept), read="duckdb").find_all(exp.Table))


def concept_statement(concept: str) -> tuple[str, bool]:
    """The SELECT that builds a concept, and whether it needs the final-claim parameters."""
    from riskstrat import lake

    sql = concept_sql(concept)
    finals = sorted(FINAL_CLAIMS.keys() & _tables_read(concept))
    if not finals:
        return sql, False
    ctes = []
    for alias in finals:
        table = FINAL_CLAIMS[alias]
        ctes.append(f"{alias} AS (\n{lake.final_claims_sql(table, lines=concept_sql(table + '_window'))}\n)")
    return "WITH " + ",\n".join(ctes) + f"\nSELECT * FROM (\n{sql}\n) AS concept", True


def materialise(con: duckdb.DuckDBPyConnection, concepts: Iterable[str]) -> None:
    """Create each concept (and what it reads) as a temp table, in dependency order."""
    known_month, known_date = con.execute("SELECT known_month, known_date FROM params").fetchall()[0]
    for name in concept_order(concepts):
        sql, needs_params = concept_statement(name)
        if needs_params:
            con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS {sql}",
                        {"as_of_month": known_month, "as_of": known_date})
        else:
            con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS {sql}")


# ---- lake access ---------------------------------------------------------------------------------

DUCKDB_MEMORY_LIMIT = "2500MB"
LAKE_TABLES = ("eligibility", "medical_claim", "pharmacy_claim", "ed_visit", "sdoh_screening", "care_management")


def open_workspace(workspace_or_connection) -> duckdb.DuckDBPyConnection:
    """A connection of our own with the lake's views; a given connection is shared, not altered.

    Given a workspace, the views come from :func:`riskstrat.lake.connect`. Given a connection
    (with those views), a cursor on it keeps our temp tables out of the caller's session.
    """
    if isinstance(workspace_or_connection, duckdb.DuckDBPyConnection):
        return workspace_or_connection.cursor()
    from riskstrat import lake

    con = lake.connect(Path(workspace_or_connection))
    # The stage's budget is 4 GB for the whole process; DuckDB spills to disk past this.
    con.execute(f"SET memory_limit = '{DUCKDB_MEMORY_LIMIT}'")
    # Concept tables are sets: keeping row order would only cost memory and time.
    con.execute("SET preserve_insertion_order = false")
    con.execute(f"SET temp_directory = '{Path(tempfile.gettempdir()) / 'riskstrat-duckdb'}'")
    return con


# ---- the feature table -------------------------------------------------------------------------


def _window_condition(f: Feature, window: int | None = None) -> list[str]:
    """The SQL conditions an event must meet to count for a feature: window, code set, group, flag.

    The code set and group filter only concepts that carry them (``codeset`` / ``grp``
    columns); elsewhere they document which code set the concept's rule joins to.
    """
    conds = []
    columns = concept_columns(f.concept)
    w = window or f.window_months
    if w and "event_date" in columns:
        conds.append(f"e.event_date >= p.start_{w}m")
    if f.group and "grp" in columns and f.aggregate != "value":
        groups = f.group.split(",")
        if len(groups) == 1:
            conds.append(f"e.grp = '{groups[0]}'")
        else:
            conds.append("e.grp IN (" + ", ".join(f"'{g}'" for g in groups) + ")")
    if f.codeset and "codeset" in columns:
        conds.append(f"e.codeset = '{f.codeset}'")
    if f.flag:
        conds.append(f"e.{f.flag} = 1")
    return conds


def _case(conds: list[str], then: str, otherwise: str = "0") -> str:
    if not conds:
        return then
    return f"CASE WHEN {' AND '.join(conds)} THEN {then} ELSE {otherwise} END"


def _concept_expressions(f: Feature) -> list[tuple[str, str]]:
    """(column, expression) pairs a feature needs in its concept's per-child aggregate."""
    a = f.aggregate
    if a == "count":
        return [(f.name, f"SUM({_case(_window_condition(f), '1')})")]
    if a == "days":
        return [(f.name, f"COUNT(DISTINCT {_case(_window_condition(f), 'e.event_date', 'NULL')})")]
    if a in ("any", "none"):
        return [(f.name, f"MAX({_case(_window_condition(f), '1')})")]
    if a == "sum":
        return [(f.name, f"SUM({_case(_window_condition(f), 'e.value')})")]
    if a == "distinct_groups":
        return [(f.name, f"COUNT(DISTINCT {_case(_window_condition(f), 'e.grp', 'NULL')})")]
    if a == "trend":
        recent = _window_condition(f, 3)
        prior = _window_condition(f) + ["e.event_date < p.start_3m"]
        return [(f.name, f"SUM({_case(recent, '1')}) / 3.0 - SUM({_case(prior, '1')}) / 9.0")]
    if a in ("pmpm", "pmpm_trend"):
        return [(f"{f.name}__recent", f"SUM({_case(_window_condition(f, 3), 'e.value')})"),
                (f"{f.name}__prior", f"SUM({_case(_window_condition(f) + ['e.event_date < p.start_3m'], 'e.value')})")]
    if a == "value":
        return [(f.name, f"MAX(e.{f.column})")]
    raise AssertionError(a)


def feature_sql() -> str:
    """The one SELECT that turns the materialised concepts into the feature table (generated)."""
    by_concept: dict[str, list[tuple[str, str]]] = {}
    for f in FEATURES:
        by_concept.setdefault(f.concept, []).extend(_concept_expressions(f))
    needs_enrolment = any(f.aggregate in ("pmpm", "pmpm_trend") for f in FEATURES)
    if needs_enrolment:
        by_concept.setdefault("enrolled_months", []).extend([
            ("months__recent", "SUM(CASE WHEN e.event_date >= p.start_3m THEN 1 ELSE 0 END)"),
            ("months__prior", "SUM(CASE WHEN e.event_date >= p.start_12m AND e.event_date < p.start_3m "
                              "THEN 1 ELSE 0 END)"),
        ])
    ctes = []
    for concept, exprs in by_concept.items():
        dated = concept_has_dates(concept)
        where = "\n    WHERE e.event_date <= p.as_of_date" if dated else ""
        cols = ",\n        ".join(f"{expr} AS {col}" for col, expr in exprs)
        ctes.append(
            f"agg_{concept} AS (\n    SELECT\n        e.person_id,\n        {cols}\n"
            f"    FROM {concept} AS e\n    CROSS JOIN params AS p{where}\n    GROUP BY e.person_id\n)"
        )
    selects = []
    for f in FEATURES:
        src = f"agg_{f.concept}"
        if f.aggregate in ("pmpm", "pmpm_trend"):
            m = "agg_enrolled_months"
            recent = f"COALESCE({src}.{f.name}__recent, 0) / NULLIF({m}.months__recent, 0)"
            prior = f"COALESCE({src}.{f.name}__prior, 0) / NULLIF({m}.months__prior, 0)"
            total = (f"(COALESCE({src}.{f.name}__recent, 0) + COALESCE({src}.{f.name}__prior, 0)) "
                     f"/ NULLIF({m}.months__recent + {m}.months__prior, 0)")
            expr = total if f.aggregate == "pmpm" else f"{recent} - {prior}"
        elif f.aggregate == "none":
            expr = f"1 - COALESCE({src}.{f.name}, 0)"
        elif f.missing is not None:
            expr = f"COALESCE({src}.{f.name}, {f.missing})"
        else:
            expr = f"{src}.{f.name}"
        selects.append(f"CAST({expr} AS DOUBLE) AS {f.name}")
    joins = "\n".join(f"LEFT JOIN agg_{c} ON pop.person_id = agg_{c}.person_id" for c in by_concept)
    return (
        "WITH " + ",\n".join(ctes) + "\nSELECT\n    pop.person_id,\n    " + ",\n    ".join(selects)
        + f"\nFROM population AS pop\n{joins}\nORDER BY pop.person_id"
    )


@cache
def concept_columns(concept: str) -> frozenset[str]:
    """The columns a concept yields (its SELECT list, parsed from the SQL file)."""
    return frozenset(sqlglot.parse_one(concept_sql(concept), read="duckdb").named_selects)


def concept_has_dates(concept: str) -> bool:
    """Whether a concept yields dated events (``event_date``) rather than one row per child."""
    return "event_date" in concept_columns(concept)


def feature_concepts() -> list[str]:
    """The SQL concepts the declared features need, so a build materialises only those."""
    wanted = {f.concept for f in FEATURES} | {"population"}
    if any(f.aggregate in ("pmpm", "pmpm_trend") for f in FEATURES):
        wanted.add("enrolled_months")
    return sorted(wanted)


def prepare_as_of(con: duckdb.DuckDBPyConnection, as_of: str) -> None:
    """Parameters for features at ``as_of``: known at T, looking back over the data window."""
    set_params(con, as_of=as_of, known_month=as_of,
               first_month=add_months(as_of, -(data_window_months() - 1)), last_month=as_of)


def population_attrition(con: duckdb.DuckDBPyConnection) -> list[tuple[str, int]]:
    """How many people each population step kept, after :func:`prepare_as_of` and materialising."""
    row = con.execute(
        """
        SELECT
            COUNT(*),
            SUM(enrolled),
            SUM(CASE WHEN enrolled = 1 AND alive = 1 THEN 1 ELSE 0 END),
            SUM(CASE WHEN enrolled = 1 AND alive = 1 AND age_years BETWEEN 0 AND 20 THEN 1 ELSE 0 END)
        FROM eligibility_at_as_of
        """
    ).fetchall()[0]
    steps = ("people in the eligibility snapshot of the as-of month", "enrolled on the last day of the month",
             "alive on that day", "aged 0-20 on that day (the scored population)")
    return [(step, int(n or 0)) for step, n in zip(steps, row, strict=True)]


def _check_snapshot(con: duckdb.DuckDBPyConnection, as_of: str) -> None:
    found = con.execute("SELECT COUNT(*) FROM eligibility WHERE delivery_month = ?", [as_of]).fetchall()[0][0]
    if not found:
        raise ValueError(
            f"no eligibility snapshot delivered in {as_of}: features for a month need that month's delivery "
            "ingested into the lake"
        )


def build_features(workspace_or_connection, as_of: str, settings: Settings | None = None) -> pd.DataFrame:
    """The feature table for as-of month ``as_of``: one row per child in the population, sorted by person_id.

    Columns: ``person_id`` then :func:`feature_names`. Only what the plan knew by the end of
    ``as_of`` is read (see the module docstring); adding later deliveries changes nothing.
    """
    check_month(as_of, "as_of")
    settings = settings or Settings()
    if settings.model.lookback_months < data_window_months():
        raise ValueError(
            f"model.lookback_months = {settings.model.lookback_months} is shorter than the longest feature "
            f"window ({data_window_months()} months)"
        )
    con = open_workspace(workspace_or_connection)
    try:
        _check_snapshot(con, as_of)
        register_codesets(con)
        prepare_as_of(con, as_of)
        materialise(con, feature_concepts())
        frame = con.execute(feature_sql()).df()
    finally:
        con.close()  # our own connection, or our cursor on the caller's (theirs stays open)
    frame["person_id"] = frame["person_id"].astype("string")
    frame = frame.reset_index(drop=True)
    # a stage handed this table instead of building it (scoring, after the drift check) can
    # then refuse one built for another month
    frame.attrs["as_of"] = as_of
    return frame
