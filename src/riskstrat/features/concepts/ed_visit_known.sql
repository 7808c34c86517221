-- ADT emergency-department messages the plan had received by the knowledge date.
-- A message counts once its delivery arrived by the knowledge month and it was sent (message
-- time, else arrival time when the feed leaves it out) by the end of the knowledge date; the
-- visit date is the arrival date, kept to the window. A message is never replaced: it stands
-- from the month it became known (known_from) on.
SELECT
    e.visit_id,
    e.person_id,
    e.facility_npi,
    CAST(e.arrival_datetime AS DATE) AS arrival_date,
    e.disposition,
    e.diagnosis_code_1,
    e.diagnosis_code_2,
    e.diagnosis_code_3,
    GREATEST(e.delivery_month, STRFTIME(CAST(COALESCE(e.message_datetime, e.arrival_datetime) AS DATE), '%Y-%m'))
        AS known_from,
    '9999-12' AS known_until
FROM ed_visit AS e
CROSS JOIN params AS p
WHERE e.delivery_month <= p.known_month
  AND CAST(COALESCE(e.message_datetime, e.arrival_datetime) AS DATE) <= p.known_date
  AND CAST(e.arrival_datetime AS DATE) BETWEEN p.window_start AND p.window_end
  AND e.person_id IS NOT NULL
