-- Pediatric Medical Complexity Algorithm (PMCA; Simon et al., Pediatrics 2014), the less
-- conservative version, over the feature window (one diagnosis on any claim or ADT record flags
-- a body system; the published algorithm looks back up to 3 years and its more conservative
-- version needs a body system on more than one claim).
--   complex chronic (2):     2 or more body systems, or any progressive condition, or malignancy
--   non-complex chronic (1): exactly 1 body system, not progressive, no malignancy
--   no chronic condition (0): none of these codes
-- Malignancy is its own PMCA category and is not counted as a body system.
WITH flagged AS (
    SELECT DISTINCT d.person_id, d.grp AS body_system, d.progressive
    FROM diagnoses AS d
    CROSS JOIN params AS p
    WHERE d.codeset = 'pmca_icd10'
      AND d.event_date >= p.start_12m  -- the 12-month feature window; the build reads further back
),
per_child AS (
    SELECT
        person_id,
        COUNT(DISTINCT CASE WHEN body_system <> 'malignancy' THEN body_system END) AS body_systems,
        MAX(progressive) AS progressive,
        MAX(CASE WHEN body_system = 'malignancy' THEN 1 ELSE 0 END) AS malignancy
    FROM flagged
    GROUP BY person_id
)
SELECT
    person_id,
    body_systems,
    progressive,
    malignancy,
    CASE
        WHEN body_systems >= 2 OR progressive = 1 OR malignancy = 1 THEN 2
        WHEN body_systems = 1 THEN 1
        ELSE 0
    END AS pmca_class
FROM per_child
