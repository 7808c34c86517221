-- Health-related social needs by domain (housing instability, food insecurity ...): a Z55-Z65
-- diagnosis in icd10cm_sdoh's group for the domain, or a positive screening in that domain
-- that the plan had received by the knowledge date.
SELECT person_id, event_date, grp, 'diagnosis' AS source
FROM diagnoses
WHERE codeset = 'icd10cm_sdoh'
UNION ALL
SELECT s.person_id, s.screening_date, s.domain, 'screening'
FROM sdoh_screening AS s
CROSS JOIN params AS p
WHERE s.delivery_month <= p.known_month
  AND s.screening_date BETWEEN p.window_start AND p.window_end
  AND s.screening_date <= p.known_date
  AND s.result = 'positive'
