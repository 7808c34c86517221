-- What each person used in each calendar month the plan covered them (covered_months), as known
-- at the last delivery: ED visits, inpatient admissions (by the stay's first day), behavioural-
-- health crises and what the plan paid (paid_amounts, by service date). A crisis is a day with a
-- psychiatric admission, a behavioural-health ED visit or a claim coding self-harm or a suicide
-- attempt, counted once however many of the three it left. A month the plan did not cover is
-- absent, not zero: nothing could be seen in it. The same events as the outcomes (outcomes.sql),
-- so an ED visit means the same thing in a label and in a programme's evaluation.
WITH ed AS (
    SELECT e.person_id, c.month_key, COUNT(*) AS n
    FROM ed_visits AS e
    INNER JOIN calendar AS c ON e.event_date BETWEEN c.month_start AND c.month_end
    GROUP BY e.person_id, c.month_key
),
admits AS (
    SELECT e.person_id, c.month_key, COUNT(*) AS n
    FROM inpatient_stays AS e
    INNER JOIN calendar AS c ON e.event_date BETWEEN c.month_start AND c.month_end
    GROUP BY e.person_id, c.month_key
),
crisis_days AS (
    SELECT person_id, event_date FROM bh_ed_visits
    UNION
    SELECT person_id, event_date FROM inpatient_stays WHERE psychiatric = 1
    UNION
    SELECT person_id, event_date FROM self_harm_events
),
crises AS (
    SELECT d.person_id, c.month_key, COUNT(*) AS n
    FROM crisis_days AS d
    INNER JOIN calendar AS c ON d.event_date BETWEEN c.month_start AND c.month_end
    GROUP BY d.person_id, c.month_key
),
paid AS (
    SELECT e.person_id, c.month_key, CAST(SUM(e.value) AS DOUBLE) AS amount
    FROM paid_amounts AS e
    INNER JOIN calendar AS c ON e.event_date BETWEEN c.month_start AND c.month_end
    GROUP BY e.person_id, c.month_key
)
SELECT
    cov.person_id,
    cov.month_key AS month,
    COALESCE(admits.n, 0) AS ip_admits,
    COALESCE(ed.n, 0) AS ed_visits,
    COALESCE(crises.n, 0) AS bh_crises,
    COALESCE(paid.amount, 0) AS paid
FROM covered_months AS cov
LEFT JOIN admits ON cov.person_id = admits.person_id AND cov.month_key = admits.month_key
LEFT JOIN ed ON cov.person_id = ed.person_id AND cov.month_key = ed.month_key
LEFT JOIN crises ON cov.person_id = crises.person_id AND cov.month_key = crises.month_key
LEFT JOIN paid ON cov.person_id = paid.person_id AND cov.month_key = paid.month_key
