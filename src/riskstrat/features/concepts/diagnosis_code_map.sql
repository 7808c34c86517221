-- Which code-set groups each ICD-10-CM code seen in the window belongs to.
-- Code sets list codes matched exactly or as a prefix (codesets/*.csv, column match). Within one
-- code set the longest matching code wins, so a specific child code (F43.1 PTSD) beats its
-- parent (F43) when the two sit in different groups. A code may belong to several code sets.
-- PMCA groups are body systems; a PMCA code also says whether the condition is progressive.
WITH seen AS (
    SELECT DISTINCT code
    FROM medical_claims
    UNPIVOT (code FOR position IN (diagnosis_code_1, diagnosis_code_2, diagnosis_code_3, diagnosis_code_4, diagnosis_code_5, diagnosis_code_6, diagnosis_code_7, diagnosis_code_8, diagnosis_code_9, diagnosis_code_10, diagnosis_code_11, diagnosis_code_12, diagnosis_code_13, diagnosis_code_14, diagnosis_code_15, diagnosis_code_16, diagnosis_code_17, diagnosis_code_18, diagnosis_code_19, diagnosis_code_20, diagnosis_code_21, diagnosis_code_22, diagnosis_code_23, diagnosis_code_24, diagnosis_code_25)) AS u
    UNION
    SELECT DISTINCT code
    FROM ed_visit_known
    UNPIVOT (code FOR position IN (diagnosis_code_1, diagnosis_code_2, diagnosis_code_3)) AS a
),
code_sets AS (
    SELECT 'icd10cm_behavioral_health' AS codeset, code, match, grp, 0 AS progressive FROM codeset_icd10cm_behavioral_health
    UNION ALL
    SELECT 'icd10cm_suicide_self_harm', code, match, grp, 0 FROM codeset_icd10cm_suicide_self_harm
    UNION ALL
    SELECT 'icd10cm_maltreatment', code, match, grp, 0 FROM codeset_icd10cm_maltreatment
    UNION ALL
    SELECT 'icd10cm_sdoh', code, match, grp, 0 FROM codeset_icd10cm_sdoh
    UNION ALL
    SELECT 'pmca_icd10', code, match, body_system, CAST(progressive AS INTEGER) FROM codeset_pmca_icd10
    UNION ALL
    SELECT 'icd10cm_chronic_conditions', code, match, grp, 0 FROM codeset_icd10cm_chronic_conditions
    UNION ALL
    SELECT 'icd10cm_routine', code, match, grp, 0 FROM codeset_icd10cm_routine
),
candidates AS (
    SELECT s.code, c.codeset, c.grp, c.progressive, LENGTH(c.code) AS matched_length
    FROM seen AS s
    INNER JOIN code_sets AS c ON s.code = c.code
    WHERE c.match = 'exact'
    UNION ALL
    SELECT s.code, c.codeset, c.grp, c.progressive, LENGTH(c.code)
    FROM seen AS s
    INNER JOIN code_sets AS c ON s.code LIKE c.code || '%'
    WHERE c.match = 'prefix'
),
matches AS (
    SELECT
        code,
        codeset,
        grp,
        progressive,
        RANK() OVER (PARTITION BY code, codeset ORDER BY matched_length DESC) AS specificity
    FROM candidates
)
SELECT DISTINCT code, codeset, grp, progressive
FROM matches
WHERE specificity = 1
