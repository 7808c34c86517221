"""The generator's clinical model, declared as data: which conditions children and adults carry,
which code-set group codes each one, and which drug class treats it.

Names refer to groups in :mod:`riskstrat.features.codesets` files; no clinical code appears here.
"""

from __future__ import annotations

from dataclasses import dataclass

CHRONIC = "icd10cm_chronic_conditions"
PMCA = "pmca_icd10"
BH = "icd10cm_behavioral_health"


@dataclass(frozen=True)
class Condition:
    """A chronic condition: the code-set group that codes it and the drugs that treat it."""
    name: str
    codeset: str
    group: str
    drug: str | None          # atc_drug_classes group given as a monthly maintenance fill
    weight_noncomplex: float  # relative frequency among children with one chronic condition
    weight_complex: float     # relative frequency among medically complex children
    flare_drug: str | None = None


# Asthma dominates chronic illness in Medicaid children; the PMCA body-system groups stand for
# the long tail of single-system conditions (eczema, hypothyroidism, reflux, hearing loss ...).
CONDITIONS: tuple[Condition, ...] = (
    Condition("asthma", CHRONIC, "asthma", "asthma_controller", 0.46, 0.10, "asthma_reliever"),
    Condition("diabetes_type1", CHRONIC, "diabetes_type1", "insulin", 0.03, 0.03),
    Condition("epilepsy", CHRONIC, "epilepsy", "anticonvulsant", 0.05, 0.14),
    Condition("sickle_cell", CHRONIC, "sickle_cell", None, 0.02, 0.06),
    Condition("congenital_heart", CHRONIC, "congenital_heart", None, 0.03, 0.08),
    Condition("cerebral_palsy", CHRONIC, "cerebral_palsy", None, 0.0, 0.08),
    Condition("cystic_fibrosis", CHRONIC, "cystic_fibrosis", None, 0.0, 0.03),
    Condition("down_syndrome", CHRONIC, "down_syndrome", None, 0.0, 0.05),
    Condition("malignancy", CHRONIC, "malignancy", None, 0.0, 0.04),
    Condition("dermatological", PMCA, "dermatological", None, 0.09, 0.02),
    Condition("endocrinological", PMCA, "endocrinological", None, 0.06, 0.06),
    Condition("gastrointestinal", PMCA, "gastrointestinal", None, 0.07, 0.10),
    Condition("genitourinary", PMCA, "genitourinary", None, 0.04, 0.04),
    Condition("otologic", PMCA, "otologic", None, 0.04, 0.02),
    Condition("ophthalmological", PMCA, "ophthalmological", None, 0.03, 0.03),
    Condition("musculoskeletal", PMCA, "musculoskeletal", None, 0.04, 0.07),
    Condition("neurological", PMCA, "neurological", None, 0.0, 0.10),
)

# Adults: a simpler, static picture (truth is only computed for children).
ADULT_CONDITIONS: tuple[Condition, ...] = (
    Condition("diabetes_type2", CHRONIC, "diabetes_type2", "other_diabetes", 0.30, 0.0),
    Condition("asthma", CHRONIC, "asthma", "asthma_controller", 0.25, 0.0, "asthma_reliever"),
    Condition("obesity", CHRONIC, "obesity", None, 0.30, 0.0),
    Condition("sickle_cell", CHRONIC, "sickle_cell", None, 0.03, 0.0),
    Condition("epilepsy", CHRONIC, "epilepsy", "anticonvulsant", 0.12, 0.0),
)


@dataclass(frozen=True)
class BHProfile:
    """A child's main behavioural-health diagnosis group, its drugs and how common it is by age and sex."""
    name: str
    group: str                 # icd10cm_behavioral_health group
    drugs: tuple[str, ...]     # atc_drug_classes groups, first most common
    # relative weight by age band (0-5, 6-11, 12-20) and the multiplier for boys
    w_young: float
    w_school: float
    w_teen: float
    boy_factor: float


BH_PROFILES: tuple[BHProfile, ...] = (
    BHProfile("adhd", "adhd", ("stimulant", "alpha_agonist_adhd", "nonstimulant_adhd"), 0.10, 0.40, 0.22, 2.0),
    BHProfile("anxiety", "anxiety", ("antidepressant", "anxiolytic"), 0.05, 0.15, 0.22, 0.7),
    BHProfile("depression", "depression", ("antidepressant",), 0.0, 0.05, 0.25, 0.6),
    BHProfile("conduct", "conduct_odd", ("alpha_agonist_adhd", "antipsychotic"), 0.15, 0.15, 0.07, 1.8),
    BHProfile("autism", "autism_developmental", ("antipsychotic", "alpha_agonist_adhd"), 0.55, 0.12, 0.05, 3.0),
    BHProfile("trauma", "trauma_ptsd", ("antidepressant", "alpha_agonist_adhd"), 0.15, 0.12, 0.10, 1.0),
    BHProfile("bipolar", "bipolar", ("mood_stabilizer", "antipsychotic"), 0.0, 0.0, 0.03, 1.0),
    BHProfile("eating", "eating_disorder", ("antidepressant",), 0.0, 0.0, 0.02, 0.2),
    BHProfile("substance", "substance_use", (), 0.0, 0.0, 0.04, 1.4),
)
# Groups used when a crisis is coded.
SUICIDAL_IDEATION = ("icd10cm_suicide_self_harm", "suicidal_ideation")
SELF_HARM = ("icd10cm_suicide_self_harm", "self_harm")


# Billing-format codes the claim layout needs that are not clinical concepts (and so are not
# in riskstrat.features.codesets): places of service other than the ED, ancillary revenue lines, the
# bill-type frequency digit and UB-04 admission/discharge fields. Declared once, here.
POS_OFFICE, POS_INPATIENT, POS_CMHC = "11", "21", "53"
REV_PHARMACY, REV_LAB, REV_RADIOLOGY = "0250", "0300", "0320"
BILL_FREQUENCY_ADMIT_THROUGH_DISCHARGE = "1"
ADMIT_TYPE_EMERGENCY, ADMIT_TYPE_URGENT, ADMIT_TYPE_ELECTIVE = "1", "2", "3"
ADMIT_SOURCE_REFERRAL, ADMIT_SOURCE_ER = "1", "7"
DISCHARGE_HOME, DISCHARGE_HOME_HEALTH, DISCHARGE_TO_PSYCH = "01", "06", "65"
