-- Claim lines that fall in a utilisation group, one row per (line, group), through any of the
-- line's four service codes (service_code_map).
-- Each line is paired with the four code systems and looked up by one equality join on (code
-- system, the line's code of that system), which is a hash join; a join ON (... OR ...) could
-- not be, and would compare every claim line with every code in the map.
SELECT DISTINCT
    c.claim_id,
    c.claim_line_number,
    c.person_id,
    c.claim_type,
    c.service_date,
    c.facility_npi,
    c.is_denied,
    m.grp,
    c.known_from,
    c.known_until
FROM medical_claims AS c
CROSS JOIN (VALUES ('pos'), ('revenue'), ('cpt_hcpcs'), ('bill_type')) AS s (code_system)
INNER JOIN service_code_map AS m
    ON m.code_system = s.code_system
    AND m.code = CASE s.code_system
        WHEN 'pos' THEN c.place_of_service_code
        WHEN 'revenue' THEN c.revenue_center_code
        WHEN 'cpt_hcpcs' THEN c.hcpcs_code
        ELSE c.bill_type_code
    END
