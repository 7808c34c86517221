-- Emergency-department visits of the other children (aged 0-20) on the child's case, one row
-- per visit (ed_visits holds the rule): families in strain bring their children to the ED more.
SELECT h.person_id, v.event_date
FROM household_members AS h
INNER JOIN ed_visits AS v ON h.member_person_id = v.person_id
WHERE h.is_self = 0
  AND h.member_age_years BETWEEN 0 AND 20
