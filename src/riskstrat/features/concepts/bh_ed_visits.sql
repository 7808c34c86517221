-- Behavioural-health emergency-department visits: ED visits where a claim or ADT record of the
-- visit has a behavioural-health principal (first-listed) diagnosis, or any suicidal-ideation or
-- self-harm diagnosis (self-harm is often coded as the injury first and its cause after).
SELECT DISTINCT r.person_id, r.visit_date AS event_date
FROM ed_visit_records AS r
INNER JOIN diagnoses AS d
    ON r.person_id = d.person_id
    AND r.source = d.source
    AND r.record_id = d.record_id
WHERE (d.codeset = 'icd10cm_behavioral_health' AND d.position = 'diagnosis_code_1')
   OR d.codeset = 'icd10cm_suicide_self_harm'
