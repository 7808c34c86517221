-- Readmissions: an inpatient stay that begins within 30 days after the discharge of an earlier
-- stay of the same child (all causes; a same-day transfer counts as a readmission).
SELECT DISTINCT later.person_id, later.event_date
FROM inpatient_stays AS later
INNER JOIN inpatient_stays AS earlier
    ON later.person_id = earlier.person_id
    AND earlier.event_date < later.event_date
WHERE DATE_DIFF('day', earlier.discharge_date, later.event_date) BETWEEN 0 AND 30
