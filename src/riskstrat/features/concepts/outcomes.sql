-- What happened to each child of the as-of population in the outcome window (the months after
-- the as-of month), as known at the end of the run-out: ED visits (counted once, as in
-- ed_visit_records), behavioural-health ED visits, inpatient admissions beginning in the window
-- and the psychiatric ones among them, claims coding self-harm or a suicide attempt
-- (self_harm_events), and the months the plan still covered the child. What was paid for care
-- in the window is outcome_paid.sql: only a cost outcome reads it, and it needs every pharmacy
-- fill besides the medical claims.
-- The outcomes themselves are rules over these counts (riskstrat/model/outcomes.yaml).
-- The events are read from the as-of month on, one month before the window opens, so an ED
-- visit that began in the as-of month and ran past midnight into the window keeps its first day
-- and is not a new event in the window (ed_visit_records).
-- Sums are cast to the type both engines then agree on: DuckDB sums integers to a HUGEINT (read
-- back as a float) and Spark keeps a sum of decimals a DECIMAL (read back as Python objects).
WITH ed AS (
    SELECT e.person_id, COUNT(*) AS n
    FROM ed_visits AS e CROSS JOIN params AS p
    WHERE e.event_date BETWEEN p.outcome_start AND p.outcome_end
    GROUP BY e.person_id
),
bh_ed AS (
    SELECT e.person_id, COUNT(*) AS n
    FROM bh_ed_visits AS e CROSS JOIN params AS p
    WHERE e.event_date BETWEEN p.outcome_start AND p.outcome_end
    GROUP BY e.person_id
),
admits AS (
    SELECT e.person_id, COUNT(*) AS n, CAST(SUM(e.psychiatric) AS BIGINT) AS psychiatric
    FROM inpatient_stays AS e CROSS JOIN params AS p
    WHERE e.event_date BETWEEN p.outcome_start AND p.outcome_end
    GROUP BY e.person_id
),
self_harm AS (
    SELECT e.person_id, COUNT(DISTINCT e.record_id) AS n
    FROM self_harm_events AS e CROSS JOIN params AS p
    WHERE e.event_date BETWEEN p.outcome_start AND p.outcome_end
    GROUP BY e.person_id
)
SELECT
    pop.person_id,
    COALESCE(ed.n, 0) AS ed_visits,
    COALESCE(bh_ed.n, 0) AS bh_ed_visits,
    COALESCE(admits.n, 0) AS ip_admits,
    COALESCE(admits.psychiatric, 0) AS psych_ip_admits,
    COALESCE(self_harm.n, 0) AS self_harm_claims,
    COALESCE(obs.months_observed, 0) AS months_observed
FROM population AS pop
LEFT JOIN ed ON pop.person_id = ed.person_id
LEFT JOIN bh_ed ON pop.person_id = bh_ed.person_id
LEFT JOIN admits ON pop.person_id = admits.person_id
LEFT JOIN self_harm ON pop.person_id = self_harm.person_id
LEFT JOIN months_observed AS obs ON pop.person_id = obs.person_id
