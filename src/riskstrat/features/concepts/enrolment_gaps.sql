-- Breaks in enrolment: a month in which a child is enrolled again after at least one month
-- without coverage, with enrolment before the break (churn, often at renewal).
SELECT person_id, event_date
FROM (
    SELECT
        person_id,
        event_date,
        month_index,
        LAG(month_index) OVER (PARTITION BY person_id ORDER BY month_index) AS previous_index
    FROM enrolled_months
) AS m
WHERE previous_index < month_index - 1
