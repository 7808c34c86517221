"""Each feature family on hand-built member histories with known answers (see conftest.py)."""

from __future__ import annotations

import pytest
from handbuilt_plan import AS_OF

from riskstrat.core.months import MonthError
from riskstrat.features import FeatureError, build_features, feature_names


def test_table_has_person_id_then_every_declared_feature(features):
    assert list(features.columns) == feature_names()
    assert features.index.is_unique


def test_population_is_children_enrolled_on_the_last_day(features):
    assert "P_ADULT" not in features.index  # 21 on 2025-06-30
    assert "P_LEFT" not in features.index  # enrolment ended 2025-06-15
    assert features.loc["P_20", "age_years"] == 20
    assert features.loc["P_ED", "sex_female"] == 0 and features.loc["P_BH", "sex_female"] == 1


def test_ed_visits_are_counted_once_across_claims_and_adt(features):
    ed = features.loc["P_ED"]
    # A (two claims + ADT, same day) 1, B (ADT 23:30, claim next day, same facility) 1, C (ADT only) 1,
    # D (Oct 2024) 1, G (different facility, next day) 2; E and F were not known at the end of June.
    assert ed["ed_visits_12m"] == 6
    assert ed["ed_visits_6m"] == 5
    assert ed["bh_ed_visits_12m"] == 1 and ed["bh_ed_visits_6m"] == 1
    assert ed["ed_visits_trend"] == pytest.approx(2 / 3 - 4 / 9)


def test_final_claim_rule_reversals_and_denials(features):
    rev = features.loc["P_REV"]
    # REV-1 reversed before T: gone. REV-2 reversed only in August: still a visit at T. REV-3 denied: no visit.
    assert rev["ed_visits_12m"] == 1
    assert rev["dx_adhd_12m"] == 1  # a denied claim is still evidence of a diagnosis


def test_inpatient_stays_psychiatric_and_readmission(features):
    ip = features.loc["P_IP"]
    assert ip["ip_admits_12m"] == 2  # two interim bills of one stay + a second stay
    assert ip["psych_ip_admits_12m"] == 1
    assert ip["readmissions_30d_12m"] == 1  # 22 days after discharge


@pytest.mark.parametrize(
    ("person", "pmca_class", "systems", "progressive", "malignancy"),
    [
        ("P_PMCA_COMPLEX", 2, 2, 0, 0),  # epilepsy + septal defect: 2 body systems
        ("P_PMCA_ONE", 1, 1, 0, 0),  # asthma only (cerebral palsy was before the window)
        ("P_PMCA_PROG", 2, 1, 1, 0),  # cystic fibrosis: progressive
        ("P_PMCA_MALIG", 2, 0, 0, 1),  # leukaemia: malignancy, not a body system
        ("P_QUIET", 0, 0, 0, 0),
        ("P_ED", 2, 2, 0, 0),  # asthma (pulmonary) + depression (mental health)
    ],
)
def test_pmca_classes(features, person, pmca_class, systems, progressive, malignancy):
    row = features.loc[person]
    assert (row["pmca_class"], row["pmca_body_systems"], row["pmca_progressive"], row["pmca_malignancy"]) == (
        pmca_class, systems, progressive, malignancy)


def test_psychotropics_and_antipsychotic_polypharmacy(features):
    rx = features.loc["P_RX"]
    assert rx["rx_antipsychotic_12m"] == 8  # 5 risperidone (ATC supplied) + 3 aripiprazole (ATC from the NDC)
    assert rx["antipsychotic_concurrent_days"] == 90  # 1 Feb .. 1 May
    assert rx["antipsychotic_polypharmacy"] == 1
    assert rx["rx_stimulant_12m"] == 1 and rx["rx_nonstimulant_adhd_12m"] == 1  # atomoxetine: longest match
    assert rx["rx_antidepressant_12m"] == 0  # denied fill
    assert rx["psychotropic_classes_12m"] == 3
    assert features.loc["P_COST", "rx_asthma_controller_12m"] == 1


def test_behavioural_health_conditions_suicidality_maltreatment(features):
    bh = features.loc["P_BH"]
    assert bh["dx_trauma_ptsd_12m"] == 1 and bh["dx_depression_12m"] == 1
    assert bh["dx_anxiety_12m"] == 0
    assert bh["bh_condition_groups_12m"] == 2
    assert bh["dx_suicidal_ideation_12m"] == 1 and bh["dx_self_harm_12m"] == 1
    assert bh["dx_maltreatment_12m"] == 1
    assert bh["bh_outpatient_visits_12m"] == 1  # office visit with a BH principal diagnosis
    assert features.loc["P_QUIET", ["dx_depression_12m", "dx_suicidal_ideation_12m"]].sum() == 0


def test_follow_up_after_a_bh_ed_visit(features):
    ed = features.loc["P_ED"]
    assert ed["bh_outpatient_visits_12m"] == 1
    assert ed["bh_ed_no_followup_7d_12m"] == 1  # psychotherapy came 21 days later
    assert ed["bh_ed_no_followup_30d_12m"] == 0


def test_social_needs_from_z_codes_and_screenings(features):
    sd = features.loc["P_SDOH"]
    assert sd["sdoh_food_insecurity_12m"] == 1  # Z59.41
    assert sd["sdoh_housing_instability_12m"] == 1  # positive screening
    assert sd["sdoh_utilities_12m"] == 0  # negative screening
    assert sd["sdoh_transportation_12m"] == 0  # screening delivered after T
    assert sd["foster_care"] == 1  # Z62.21 child in welfare custody
    assert sd["sdoh_domains_12m"] == 3


def test_aid_category_and_care_gaps(features):
    care = features.loc["P_CARE"]
    assert care["aid_foster_care"] == 1 and care["foster_care"] == 1
    assert care["no_well_child_visit_12m"] == 0 and care["no_dental_visit_12m"] == 1
    assert features.loc["P_QUIET", "no_well_child_visit_12m"] == 1


def test_enrolment_months_and_gaps(features):
    assert features.loc["P_ENROL", "enrolled_months_12m"] == 9
    assert features.loc["P_ENROL", "enrolment_gaps_12m"] == 1
    assert features.loc["P_QUIET", "enrolled_months_12m"] == 12
    assert features.loc["P_QUIET", "enrolment_gaps_12m"] == 0


def test_cost_per_member_month_and_trend(features):
    cost = features.loc["P_COST"]
    assert cost["paid_pmpm_12m"] == pytest.approx((900 + 300 + 60) / 12)
    assert cost["paid_pmpm_trend"] == pytest.approx((300 + 60) / 3 - 900 / 9)


def test_leakage_no_later_delivery_changes_a_feature(plan, full_lake, features, tmp_path):
    """Adding every delivery after T changes no feature value for T."""
    only_known = build_features(plan.write(tmp_path, through=AS_OF), AS_OF).set_index("person_id")
    assert only_known.equals(features)


def test_same_answer_from_a_connection(full_lake, features):
    from riskstrat import lake

    con = lake.connect(full_lake)
    try:
        again = build_features(con, AS_OF).set_index("person_id")
        assert again.equals(features)
        # the caller's connection is not left with our temp tables
        assert not con.execute("SELECT * FROM duckdb_tables() WHERE table_name = 'population'").fetchall()
    finally:
        con.close()


def test_refuses_a_month_without_its_snapshot(full_lake):
    with pytest.raises(FeatureError, match="no eligibility snapshot delivered in 2027-01"):
        build_features(full_lake, "2027-01")
    with pytest.raises(MonthError, match="YYYY-MM"):
        build_features(full_lake, "2025-6")


def test_the_year_before_is_missing_until_the_lake_reaches_back_to_it(full_lake, features):
    # At 2025-06 the year before opens in 2023-07, before the lake's first delivery (2024-01).
    assert features["ed_visits_prior_year"].isna().all()
    late = build_features(full_lake, "2025-12").set_index("person_id")
    assert late.loc["P_ED", "ed_visits_prior_year"] == 1  # D, October 2024; the 2025 visits are in the last 12 months
    assert late.loc["P_ED", "ed_visits_12m"] >= 5
    assert late.loc["P_QUIET", "ed_visits_prior_year"] == 0
