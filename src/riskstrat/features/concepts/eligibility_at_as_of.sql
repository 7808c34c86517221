-- Each person in the plan's eligibility snapshot of the as-of month, with what decides whether
-- the child is scored: enrolled on the last day of the month, alive then, and age in whole years
-- on that day. Where a person has several spans, the one covering the as-of date describes them
-- (else the latest). This is the one rule for which eligibility row describes a child at T:
-- scoring reads the contact details and the audit the fairness groups of the span chosen here,
-- through span_file and span_row (the lake row's lineage). Race, ethnicity and contact details
-- are deliberately not carried: features never read them.
WITH spans AS (
    SELECT
        e.person_id,
        e.member_id,
        e.subscriber_id,
        e.gender,
        e.birth_date,
        e.death_date,
        e.aid_category,
        e.enrollment_start_date,
        e.source_file,
        e.source_row,
        CASE
            WHEN e.enrollment_start_date <= p.as_of_date
             AND (e.enrollment_end_date IS NULL OR e.enrollment_end_date >= p.as_of_date)
            THEN 1 ELSE 0
        END AS covers_as_of,
        EXTRACT(YEAR FROM p.as_of_date) - EXTRACT(YEAR FROM e.birth_date)
            - CASE
                WHEN EXTRACT(MONTH FROM e.birth_date) > EXTRACT(MONTH FROM p.as_of_date)
                  OR (EXTRACT(MONTH FROM e.birth_date) = EXTRACT(MONTH FROM p.as_of_date)
                      AND EXTRACT(DAY FROM e.birth_date) > EXTRACT(DAY FROM p.as_of_date))
                THEN 1 ELSE 0
              END AS age_years,
        CASE WHEN e.death_date IS NULL OR e.death_date > p.as_of_date THEN 1 ELSE 0 END AS alive
    FROM eligibility AS e
    CROSS JOIN params AS p
    WHERE e.delivery_month = p.as_of_month
),
ranked AS (
    SELECT
        s.*,
        ROW_NUMBER() OVER (
            PARTITION BY person_id
            ORDER BY covers_as_of DESC, enrollment_start_date DESC, member_id DESC, source_row DESC
        ) AS span_rank
    FROM spans AS s
)
SELECT
    person_id,
    member_id,
    subscriber_id,
    covers_as_of AS enrolled,
    alive,
    age_years,
    CASE WHEN gender = 'female' THEN 1 ELSE 0 END AS sex_female,
    aid_category,
    source_file AS span_file,
    source_row AS span_row
FROM ranked
WHERE span_rank = 1
