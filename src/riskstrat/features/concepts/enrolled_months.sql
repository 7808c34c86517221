-- The calendar months a child was enrolled in, as the eligibility snapshot of the as-of month
-- tells it: a month counts when any enrolment span overlaps it. Only for the children scored
-- (the population): the features describe no one else, and the adults in the snapshot would
-- double the months counted and the breaks looked for. Each month once: a span adds only the
-- months after those its child's earlier spans touch (enrolment_spans).
SELECT s.person_id, c.month_start AS event_date, c.month_index
FROM enrolment_spans AS s
INNER JOIN calendar AS c
    ON c.month_index BETWEEN s.first_index AND s.last_index
WHERE s.covered_to IS NULL
   OR c.month_index > s.covered_to
