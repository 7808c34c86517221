-- Breaks in enrolment: a month in which a child is enrolled again after at least one month
-- without coverage, with enrolment before the break (churn, often at renewal): the first month of
-- a span that starts more than a month after every earlier span of the child ends (enrolment_spans).
SELECT s.person_id, c.month_start AS event_date
FROM enrolment_spans AS s
INNER JOIN calendar AS c
    ON c.month_index = s.first_index
WHERE s.first_index > s.covered_to + 1
