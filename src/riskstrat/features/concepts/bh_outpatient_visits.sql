-- Outpatient behavioural-health visits, one per child and day: a paid line with a BH
-- outpatient service code (psychotherapy, psychiatric evaluation ...), or an office or
-- telehealth visit whose claim has a behavioural-health principal diagnosis.
WITH principal_bh AS (
    SELECT DISTINCT record_id
    FROM diagnoses
    WHERE source = 'claim'
      AND position = 'diagnosis_code_1'
      AND codeset IN ('icd10cm_behavioral_health', 'icd10cm_suicide_self_harm')
)
SELECT DISTINCT s.person_id, s.service_date AS event_date
FROM service_lines AS s
LEFT JOIN principal_bh AS b ON s.claim_id = b.record_id
WHERE s.is_denied = 0
  AND (s.grp = 'bh_outpatient' OR (s.grp IN ('office_visit', 'telehealth_pos') AND b.record_id IS NOT NULL))
