-- Each enrolment span of a scored child, as the eligibility snapshot of the as-of month tells it:
-- the first and last calendar months it touches (month_index, up to the as-of month), and
-- covered_to, the last month the child's earlier spans (in order of their first month) already
-- touch. A span's months after covered_to are months no earlier span counted, and a span that
-- starts more than a month after covered_to ends a break in coverage. Worked out on the spans,
-- a few per child, rather than on every enrolled month: listing the months first and removing the
-- months two spans share took a second a month on 500k members.
WITH months AS (
    SELECT c.month_index, c.month_start, c.month_end
    FROM calendar AS c
    CROSS JOIN params AS p
    WHERE c.month_start <= p.as_of_date
),
bounds AS (
    SELECT MIN(month_start) AS first_day, MAX(month_end) AS last_day FROM months
),
spans AS (
    SELECT
        e.person_id,
        GREATEST(e.enrollment_start_date, b.first_day) AS span_start,
        LEAST(COALESCE(e.enrollment_end_date, b.last_day), b.last_day) AS span_end
    FROM eligibility AS e
    CROSS JOIN params AS p
    CROSS JOIN bounds AS b
    INNER JOIN population AS pop
        ON pop.person_id = e.person_id
    WHERE e.delivery_month = p.as_of_month
      AND e.enrollment_start_date <= b.last_day
      AND (e.enrollment_end_date IS NULL OR e.enrollment_end_date >= b.first_day)
),
indexed AS (
    SELECT s.person_id, f.month_index AS first_index, l.month_index AS last_index
    FROM spans AS s
    INNER JOIN months AS f
        ON s.span_start BETWEEN f.month_start AND f.month_end
    INNER JOIN months AS l
        ON s.span_end BETWEEN l.month_start AND l.month_end
)
SELECT
    person_id,
    first_index,
    last_index,
    MAX(last_index) OVER (
        PARTITION BY person_id ORDER BY first_index, last_index ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING
    ) AS covered_to
FROM indexed
