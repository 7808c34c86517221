-- Child-welfare involvement: enrolled under the foster-care aid category at the as-of month, or
-- a diagnosis of a child in welfare custody (icd10cm_sdoh group foster_care) in the window.
SELECT person_id, 1 AS in_foster_care
FROM population
WHERE aid_category = 'foster_care'
UNION
SELECT person_id, 1
FROM diagnoses
WHERE codeset = 'icd10cm_sdoh' AND grp = 'foster_care'
