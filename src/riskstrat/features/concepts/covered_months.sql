-- The months of the calendar in which the plan covered each person, each read from that month's
-- own eligibility snapshot: enrolled on the month's last day, and alive then. A child who left
-- the plan, or died, has fewer.
SELECT DISTINCT e.person_id, c.month_key, c.month_start
FROM eligibility AS e
INNER JOIN calendar AS c
    ON e.delivery_month = c.month_key
    AND e.enrollment_start_date <= c.month_end
    AND (e.enrollment_end_date IS NULL OR e.enrollment_end_date >= c.month_end)
    AND (e.death_date IS NULL OR e.death_date > c.month_end)
