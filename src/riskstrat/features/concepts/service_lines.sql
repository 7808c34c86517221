-- Claim lines that fall in a utilisation group, one row per (line, group), through any of the
-- line's four service codes (service_code_map).
-- One equality join per code column, not one join ON (... OR ...): an OR condition cannot be a
-- hash join, and every claim line would be compared with every code in the map.
SELECT DISTINCT
    c.claim_id,
    c.claim_line_number,
    c.person_id,
    c.claim_type,
    c.service_date,
    c.facility_npi,
    c.is_denied,
    m.grp
FROM medical_claims AS c
INNER JOIN service_code_map AS m ON m.code_system = 'pos' AND c.place_of_service_code = m.code
UNION
SELECT c.claim_id, c.claim_line_number, c.person_id, c.claim_type, c.service_date, c.facility_npi, c.is_denied, m.grp
FROM medical_claims AS c
INNER JOIN service_code_map AS m ON m.code_system = 'revenue' AND c.revenue_center_code = m.code
UNION
SELECT c.claim_id, c.claim_line_number, c.person_id, c.claim_type, c.service_date, c.facility_npi, c.is_denied, m.grp
FROM medical_claims AS c
INNER JOIN service_code_map AS m ON m.code_system = 'cpt_hcpcs' AND c.hcpcs_code = m.code
UNION
SELECT c.claim_id, c.claim_line_number, c.person_id, c.claim_type, c.service_date, c.facility_npi, c.is_denied, m.grp
FROM medical_claims AS c
INNER JOIN service_code_map AS m ON m.code_system = 'bill_type' AND c.bill_type_code = m.code
