-- Emergency-department visits, one row per visit (ed_visit_records holds the rule), and whether
-- claims, ADT or both reported it.
SELECT
    person_id,
    visit_date AS event_date,
    MAX(CASE WHEN source = 'adt' THEN 1 ELSE 0 END) AS from_adt,
    MAX(CASE WHEN source = 'claim' THEN 1 ELSE 0 END) AS from_claims
FROM ed_visit_records
GROUP BY person_id, visit_date
