-- Which utilisation groups (utilization_codes.csv: ED, inpatient, well-child, dental, BH
-- outpatient ...) each service code seen in the window belongs to.
-- A claim line carries four kinds of service code: place of service, revenue centre, CPT/HCPCS
-- and bill type; each is matched only against entries of its own code_system, exactly or as a
-- prefix, and (the code sets' rule) the longest matching entry decides; entries of the same
-- length in several groups put the code in each (psychiatric room and board is also room and
-- board).
WITH seen AS (
    SELECT DISTINCT 'pos' AS code_system, place_of_service_code AS code FROM medical_claims
    UNION
    SELECT DISTINCT 'revenue', revenue_center_code FROM medical_claims
    UNION
    SELECT DISTINCT 'cpt_hcpcs', hcpcs_code FROM medical_claims
    UNION
    SELECT DISTINCT 'bill_type', bill_type_code FROM medical_claims
),
candidates AS (
    SELECT s.code_system, s.code, u.grp, LENGTH(u.code) AS matched_length
    FROM seen AS s
    INNER JOIN codeset_utilization_codes AS u ON s.code_system = u.code_system AND s.code = u.code
    WHERE u.match = 'exact'
    UNION ALL
    SELECT s.code_system, s.code, u.grp, LENGTH(u.code)
    FROM seen AS s
    INNER JOIN codeset_utilization_codes AS u ON s.code_system = u.code_system AND s.code LIKE u.code || '%'
    WHERE u.match = 'prefix'
),
matches AS (
    SELECT
        code_system,
        code,
        grp,
        RANK() OVER (PARTITION BY code_system, code ORDER BY matched_length DESC) AS specificity
    FROM candidates
)
SELECT DISTINCT code_system, code, grp
FROM matches
WHERE specificity = 1
