-- Follow-up after a behavioural-health ED visit: an outpatient BH visit on the day of the ED
-- visit or within the 7 (30) days after it (as in HEDIS FUM). A visit whose 7 (30) days have not
-- yet passed by the as-of date cannot have missed its follow-up and is not counted as missed.
SELECT
    v.person_id,
    v.event_date,
    CASE
        WHEN DATE_DIFF('day', v.event_date, p.as_of_date) >= 7
         AND MAX(CASE WHEN DATE_DIFF('day', v.event_date, o.event_date) BETWEEN 0 AND 7 THEN 1 ELSE 0 END) = 0
        THEN 1 ELSE 0
    END AS no_followup_7d,
    CASE
        WHEN DATE_DIFF('day', v.event_date, p.as_of_date) >= 30
         AND MAX(CASE WHEN DATE_DIFF('day', v.event_date, o.event_date) BETWEEN 0 AND 30 THEN 1 ELSE 0 END) = 0
        THEN 1 ELSE 0
    END AS no_followup_30d
FROM bh_ed_visits AS v
CROSS JOIN params AS p
LEFT JOIN bh_outpatient_visits AS o ON v.person_id = o.person_id
GROUP BY v.person_id, v.event_date, p.as_of_date
