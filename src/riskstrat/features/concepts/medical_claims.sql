-- Medical claim lines as the plan knew them at the knowledge date, for services in the window.
-- final_medical_claim is the lake's final-claim rule (lake/final_claims.sql) applied as of the
-- knowledge month: lines delivered by then and paid by its last day, the final version of each
-- claim, reversed claims gone, denied claims kept and marked (evidence of a diagnosis, never
-- utilisation). The service date is the line's own start date where it has one, else the claim's.
-- Each line comes with the knowledge months it stood in, known_from <= T < known_until: with
-- params.known_first before the knowledge month, the lines of every month between (CARRIED in
-- riskstrat.features.concept_sql).
SELECT
    f.claim_id,
    f.claim_line_number,
    f.person_id,
    f.claim_type,
    COALESCE(f.claim_line_start_date, f.claim_start_date) AS service_date,
    f.claim_start_date,
    f.claim_end_date,
    f.admission_date,
    f.discharge_date,
    f.place_of_service_code,
    f.bill_type_code,
    f.revenue_center_code,
    f.hcpcs_code,
    COALESCE(f.facility_npi, f.billing_npi) AS facility_npi,
    f.paid_amount,
    CASE WHEN f.is_denied THEN 1 ELSE 0 END AS is_denied,
    f.diagnosis_code_1,
    f.diagnosis_code_2,
    f.diagnosis_code_3,
    f.diagnosis_code_4,
    f.diagnosis_code_5,
    f.diagnosis_code_6,
    f.diagnosis_code_7,
    f.diagnosis_code_8,
    f.diagnosis_code_9,
    f.diagnosis_code_10,
    f.diagnosis_code_11,
    f.diagnosis_code_12,
    f.diagnosis_code_13,
    f.diagnosis_code_14,
    f.diagnosis_code_15,
    f.diagnosis_code_16,
    f.diagnosis_code_17,
    f.diagnosis_code_18,
    f.diagnosis_code_19,
    f.diagnosis_code_20,
    f.diagnosis_code_21,
    f.diagnosis_code_22,
    f.diagnosis_code_23,
    f.diagnosis_code_24,
    f.diagnosis_code_25,
    f.known_from,
    f.known_until
FROM final_medical_claim AS f
CROSS JOIN params AS p
WHERE COALESCE(f.claim_line_start_date, f.claim_start_date) BETWEEN p.window_start AND p.window_end
