-- Child-welfare involvement: enrolled under the foster-care aid category at the as-of month, or
-- a diagnosis of a child in welfare custody (icd10cm_sdoh group foster_care) in the last 12
-- months (the build reads further back, for the year-before features).
SELECT person_id, 1 AS in_foster_care
FROM population
WHERE aid_category = 'foster_care'
UNION
SELECT d.person_id, 1
FROM diagnoses AS d
CROSS JOIN params AS p
WHERE d.codeset = 'icd10cm_sdoh' AND d.grp = 'foster_care' AND d.event_date >= p.start_12m
