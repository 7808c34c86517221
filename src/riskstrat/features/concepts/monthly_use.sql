-- What each person used in each calendar month the plan covered them (covered_months), as known
-- at the last delivery: ED visits, inpatient admissions (by the stay's first day), behavioural-
-- health crises and what the plan paid (paid_amounts, by service date). A crisis is a day with a
-- psychiatric admission, a behavioural-health ED visit or a claim coding self-harm or a suicide
-- attempt, counted once however many of the three it left. A month the plan did not cover is
-- absent, not zero: nothing could be seen in it. The same events as the outcomes (outcomes.sql),
-- so an ED visit means the same thing in a label and in a programme's evaluation.
-- The paid amounts stay exact decimals until summed (paid_amounts.sql says why).
WITH crisis_days AS (
    SELECT person_id, event_date FROM bh_ed_visits
    UNION
    SELECT person_id, event_date FROM inpatient_stays WHERE psychiatric = 1
    UNION
    SELECT person_id, event_date FROM self_harm_events
),
events AS (
    SELECT person_id, event_date, 'admission' AS kind, CAST(0 AS DECIMAL(18, 2)) AS value FROM inpatient_stays
    UNION ALL
    SELECT person_id, event_date, 'ed_visit', CAST(0 AS DECIMAL(18, 2)) FROM ed_visits
    UNION ALL
    SELECT person_id, event_date, 'crisis', CAST(0 AS DECIMAL(18, 2)) FROM crisis_days
    UNION ALL
    SELECT person_id, event_date, 'paid', value FROM paid_amounts
),
monthly AS (
    SELECT
        e.person_id,
        c.month_key,
        SUM(CASE WHEN e.kind = 'admission' THEN 1 ELSE 0 END) AS ip_admits,
        SUM(CASE WHEN e.kind = 'ed_visit' THEN 1 ELSE 0 END) AS ed_visits,
        SUM(CASE WHEN e.kind = 'crisis' THEN 1 ELSE 0 END) AS bh_crises,
        CAST(SUM(e.value) AS DOUBLE) AS paid
    FROM events AS e
    INNER JOIN calendar AS c ON e.event_date BETWEEN c.month_start AND c.month_end
    GROUP BY e.person_id, c.month_key
)
SELECT
    cov.person_id,
    cov.month_key AS month,
    CAST(COALESCE(m.ip_admits, 0) AS BIGINT) AS ip_admits,
    CAST(COALESCE(m.ed_visits, 0) AS BIGINT) AS ed_visits,
    CAST(COALESCE(m.bh_crises, 0) AS BIGINT) AS bh_crises,
    COALESCE(m.paid, 0) AS paid
FROM covered_months AS cov
LEFT JOIN monthly AS m ON cov.person_id = m.person_id AND cov.month_key = m.month_key
