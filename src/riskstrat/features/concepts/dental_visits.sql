-- Dental visits, one per child and day: a paid line with a dental service code (CDT).
SELECT DISTINCT person_id, service_date AS event_date
FROM service_lines
WHERE grp = 'dental_visit' AND is_denied = 0
