-- The calendar months a child was enrolled in, as the eligibility snapshot of the as-of month
-- tells it: a month counts when any enrolment span overlaps it. Only for the children scored
-- (the population): the features describe no one else, and the adults in the snapshot would
-- double the months counted and the breaks looked for.
SELECT DISTINCT e.person_id, c.month_start AS event_date, c.month_index
FROM eligibility AS e
CROSS JOIN params AS p
INNER JOIN population AS pop
    ON pop.person_id = e.person_id
INNER JOIN calendar AS c
    ON e.enrollment_start_date <= c.month_end
    AND (e.enrollment_end_date IS NULL OR e.enrollment_end_date >= c.month_start)
WHERE e.delivery_month = p.as_of_month
  AND c.month_start <= p.as_of_date
