-- Outcome follow-up: for each child, the months after the as-of month (within the outcome
-- window, the calendar) in which the plan still covered them (covered_months).
SELECT person_id, COUNT(*) AS months_observed
FROM covered_months
GROUP BY person_id
