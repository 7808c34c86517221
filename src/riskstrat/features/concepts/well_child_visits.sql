-- Well-child visits, one per child and day: a paid line with a preventive-visit service code,
-- or a claim with a routine child health examination diagnosis (Z00.1x, icd10cm_routine).
SELECT DISTINCT person_id, service_date AS event_date
FROM service_lines
WHERE grp = 'well_child' AND is_denied = 0
UNION
SELECT DISTINCT person_id, event_date
FROM diagnoses
WHERE codeset = 'icd10cm_routine' AND grp = 'well_child' AND source = 'claim' AND is_denied = 0
