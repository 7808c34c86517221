-- Antipsychotic polypharmacy: two or more different antipsychotics (ATC level 5) taken together
-- for at least 90 days, as in the HEDIS APP measure.
-- Approximation, from fills alone: a drug covers the days from its first fill in the last 12 months to
-- the last day supplied by its last fill (capped at the as-of date), gaps between fills
-- included; the concurrent days are the longest overlap of two drugs' spans.
WITH spans AS (
    SELECT
        f.person_id,
        f.atc_code,
        MIN(f.event_date) AS first_day,
        LEAST(MAX(f.event_date + CAST(f.days_supply - 1 AS INTEGER)), MAX(p.as_of_date)) AS last_day
    FROM drug_fills AS f
    CROSS JOIN params AS p
    WHERE f.grp = 'antipsychotic'
      AND f.event_date >= p.start_12m  -- the 12-month feature window; the build reads further back
    GROUP BY f.person_id, f.atc_code
),
pairs AS (
    SELECT
        a.person_id,
        DATE_DIFF('day', GREATEST(a.first_day, b.first_day), LEAST(a.last_day, b.last_day)) + 1 AS overlap_days
    FROM spans AS a
    INNER JOIN spans AS b ON a.person_id = b.person_id AND a.atc_code < b.atc_code
)
SELECT
    person_id,
    GREATEST(MAX(overlap_days), 0) AS concurrent_days,
    CASE WHEN MAX(overlap_days) >= 90 THEN 1 ELSE 0 END AS polypharmacy
FROM pairs
GROUP BY person_id
