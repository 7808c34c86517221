-- Emergency-department records and the visit each belongs to.
-- A record is a paid claim with an ED line (utilization_codes group ed_visit: place of service
-- 23, revenue centre 045x, CPT 99281-99285) or an ADT message of an ED arrival.
-- One visit is counted once, whatever reports it: records of the same child on the same day are
-- one visit, and a record at the same facility the day after another record of that child
-- continues that visit (an arrival before midnight, a claim dated the next day). The visit's
-- date is its first day. Denied claims are not utilisation and make no visit.
WITH records AS (
    SELECT DISTINCT person_id, 'claim' AS source, claim_id AS record_id, service_date AS record_date, facility_npi
    FROM service_lines
    WHERE grp = 'ed_visit' AND is_denied = 0
    UNION
    SELECT DISTINCT person_id, 'adt', visit_id, arrival_date, facility_npi
    FROM ed_visit_known
),
days AS (
    SELECT DISTINCT person_id, record_date FROM records
),
continued AS (
    SELECT DISTINCT r.person_id, r.record_date
    FROM records AS r
    INNER JOIN records AS q
        ON r.person_id = q.person_id
        AND r.facility_npi = q.facility_npi
        AND DATE_DIFF('day', q.record_date, r.record_date) = 1
),
numbered AS (
    SELECT
        d.person_id,
        d.record_date,
        SUM(CASE WHEN c.person_id IS NULL THEN 1 ELSE 0 END) OVER (
            PARTITION BY d.person_id ORDER BY d.record_date ROWS UNBOUNDED PRECEDING
        ) AS visit_number
    FROM days AS d
    LEFT JOIN continued AS c ON d.person_id = c.person_id AND d.record_date = c.record_date
),
visits AS (
    SELECT person_id, visit_number, MIN(record_date) AS visit_date
    FROM numbered
    GROUP BY person_id, visit_number
)
SELECT r.person_id, r.source, r.record_id, r.record_date, r.facility_npi, v.visit_date
FROM records AS r
INNER JOIN numbered AS n ON r.person_id = n.person_id AND r.record_date = n.record_date
INNER JOIN visits AS v ON n.person_id = v.person_id AND n.visit_number = v.visit_number
