-- The medical claim lines that can matter for the window: every line, of every version, of a
-- claim any of whose lines delivered by the knowledge month has a service date in the window.
-- The lake's final-claim rule then runs on these claims only. Nothing is lost: a claim whose
-- final version has a line in the window has such a line; the rule just no longer walks the
-- whole history of the plan for a 12-month window. Only the columns the features read (and
-- the rule needs) are carried.
SELECT
    m.claim_id,
    m.claim_line_number,
    m.claim_type,
    m.person_id,
    m.claim_start_date,
    m.claim_end_date,
    m.claim_line_start_date,
    m.admission_date,
    m.discharge_date,
    m.place_of_service_code,
    m.bill_type_code,
    m.revenue_center_code,
    m.hcpcs_code,
    m.billing_npi,
    m.facility_npi,
    m.paid_date,
    m.paid_amount,
    m.claim_status,
    m.adjustment_sequence,
    m.delivery_month,
    m.diagnosis_code_1,
    m.diagnosis_code_2,
    m.diagnosis_code_3,
    m.diagnosis_code_4,
    m.diagnosis_code_5,
    m.diagnosis_code_6,
    m.diagnosis_code_7,
    m.diagnosis_code_8,
    m.diagnosis_code_9,
    m.diagnosis_code_10,
    m.diagnosis_code_11,
    m.diagnosis_code_12,
    m.diagnosis_code_13,
    m.diagnosis_code_14,
    m.diagnosis_code_15,
    m.diagnosis_code_16,
    m.diagnosis_code_17,
    m.diagnosis_code_18,
    m.diagnosis_code_19,
    m.diagnosis_code_20,
    m.diagnosis_code_21,
    m.diagnosis_code_22,
    m.diagnosis_code_23,
    m.diagnosis_code_24,
    m.diagnosis_code_25
FROM main.medical_claim AS m
WHERE m.claim_id IN (
    SELECT c.claim_id
    FROM main.medical_claim AS c
    CROSS JOIN params AS p
    WHERE c.delivery_month <= p.known_month
      AND COALESCE(c.claim_line_start_date, c.claim_start_date) BETWEEN p.window_start AND p.window_end
)
