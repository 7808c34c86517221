-- Behavioural-health needs assessments: a CANS (Child and Adolescent Needs and Strengths)
-- completed for the child, one per child and day, as the plan had received it by the knowledge
-- date. A CANS is done when a child enters behavioural-health services or their needs change,
-- so a recent one marks behavioural health that is active at the time, whatever its answers.
SELECT DISTINCT s.person_id, s.screening_date AS event_date
FROM sdoh_screening AS s
CROSS JOIN params AS p
WHERE s.instrument = 'cans'
  AND s.delivery_month <= p.known_month
  AND s.screening_date BETWEEN p.window_start AND p.window_end
  AND s.screening_date <= p.known_date
