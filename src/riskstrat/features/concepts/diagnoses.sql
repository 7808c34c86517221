-- Every diagnosis a child carried in the window that belongs to a code set, one row per
-- (claim or ADT visit, position, code set group), with the code itself (a rule may need its
-- encounter character, e.g. the outcome's self-harm events).
-- Denied claims count: a denial is still a clinician's diagnosis. Position diagnosis_code_1 is
-- the principal (first-listed) diagnosis.
SELECT
    u.person_id,
    u.service_date AS event_date,
    'claim' AS source,
    u.claim_id AS record_id,
    u.position,
    u.code,
    u.is_denied,
    m.codeset,
    m.grp,
    m.progressive,
    u.known_from,
    u.known_until
FROM (
    SELECT DISTINCT person_id, service_date, claim_id, is_denied, position, code, known_from, known_until
    FROM medical_claims
    UNPIVOT (code FOR position IN (diagnosis_code_1, diagnosis_code_2, diagnosis_code_3, diagnosis_code_4, diagnosis_code_5, diagnosis_code_6, diagnosis_code_7, diagnosis_code_8, diagnosis_code_9, diagnosis_code_10, diagnosis_code_11, diagnosis_code_12, diagnosis_code_13, diagnosis_code_14, diagnosis_code_15, diagnosis_code_16, diagnosis_code_17, diagnosis_code_18, diagnosis_code_19, diagnosis_code_20, diagnosis_code_21, diagnosis_code_22, diagnosis_code_23, diagnosis_code_24, diagnosis_code_25)) AS x
) AS u
INNER JOIN diagnosis_code_map AS m ON u.code = m.code
UNION ALL
SELECT
    a.person_id,
    a.arrival_date,
    'adt',
    a.visit_id,
    a.position,
    a.code,
    0,
    m.codeset,
    m.grp,
    m.progressive,
    a.known_from,
    a.known_until
FROM (
    SELECT person_id, arrival_date, visit_id, position, code, known_from, known_until
    FROM ed_visit_known
    UNPIVOT (code FOR position IN (diagnosis_code_1, diagnosis_code_2, diagnosis_code_3)) AS y
) AS a
INNER JOIN diagnosis_code_map AS m ON a.code = m.code
