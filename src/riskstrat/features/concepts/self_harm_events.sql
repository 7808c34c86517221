-- Claims coding self-harm or a suicide attempt (the self_harm group), whatever the claim was
-- for: self-harm is often coded as the injury's cause. A personal-history code (Z91.5-) or a
-- subsequent or sequela encounter (7th character D or S) is not a new event. One row per claim
-- and service date.
SELECT DISTINCT d.person_id, d.record_id, d.event_date
FROM diagnoses AS d
WHERE d.source = 'claim'
  AND d.codeset = 'icd10cm_suicide_self_harm'
  AND d.grp = 'self_harm'
  AND d.code NOT LIKE 'Z915%'
  AND NOT (length(d.code) = 7 AND right(d.code, 1) IN ('D', 'S'))
