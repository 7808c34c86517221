-- Inpatient admissions, one row per stay.
-- A stay is a paid institutional claim with an inpatient bill type (11x) or an inpatient
-- room-and-board revenue line; claims of one child with the same admission date are one stay
-- (interim bills). The stay runs from the admission date (else the claim start) to the latest
-- discharge date (else claim end). It is psychiatric when a line bills psychiatric room and
-- board or a claim's principal diagnosis is behavioural health, suicidal ideation or self-harm.
WITH inpatient_claims AS (
    SELECT DISTINCT claim_id
    FROM service_lines
    WHERE is_denied = 0
      AND claim_type = 'institutional'
      AND grp IN ('inpatient_bill_type', 'inpatient_room_board', 'psych_room_board')
),
psychiatric_claims AS (
    SELECT DISTINCT claim_id FROM service_lines WHERE grp = 'psych_room_board'
    UNION
    SELECT DISTINCT record_id
    FROM diagnoses
    WHERE source = 'claim'
      AND position = 'diagnosis_code_1'
      AND codeset IN ('icd10cm_behavioral_health', 'icd10cm_suicide_self_harm')
),
claims AS (
    SELECT
        c.person_id,
        c.claim_id,
        MIN(COALESCE(c.admission_date, c.claim_start_date)) AS admit_date,
        MAX(COALESCE(c.discharge_date, c.claim_end_date)) AS discharge_date
    FROM medical_claims AS c
    INNER JOIN inpatient_claims AS i ON c.claim_id = i.claim_id
    GROUP BY c.person_id, c.claim_id
)
SELECT
    c.person_id,
    c.admit_date AS event_date,
    MAX(c.discharge_date) AS discharge_date,
    MAX(CASE WHEN p.claim_id IS NULL THEN 0 ELSE 1 END) AS psychiatric
FROM claims AS c
LEFT JOIN psychiatric_claims AS p ON c.claim_id = p.claim_id
GROUP BY c.person_id, c.admit_date
