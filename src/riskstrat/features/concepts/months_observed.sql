-- Outcome follow-up: for each child, the months after the as-of month (within the outcome
-- window) in which the plan still covered them, each read from that month's own eligibility
-- snapshot (enrolled on the month's last day). A child who left the plan has fewer.
SELECT e.person_id, COUNT(DISTINCT c.month_start) AS months_observed
FROM eligibility AS e
INNER JOIN calendar AS c
    ON e.delivery_month = c.month_key
    AND e.enrollment_start_date <= c.month_end
    AND (e.enrollment_end_date IS NULL OR e.enrollment_end_date >= c.month_end)
    AND (e.death_date IS NULL OR e.death_date > c.month_end)
GROUP BY e.person_id
