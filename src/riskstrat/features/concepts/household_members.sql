-- Everyone on each scored child's case: the child, and the other people with the same
-- subscriber_id in the as-of month's eligibility snapshot (siblings, caregivers on the case).
-- A household's social circumstances are shared, so what is seen for one member says something
-- about all of them. The child is listed separately so a missing subscriber_id still keeps it.
SELECT person_id, person_id AS member_person_id, age_years AS member_age_years, 1 AS is_self
FROM population
UNION ALL
SELECT pop.person_id, e.person_id, e.age_years, 0
FROM population AS pop
INNER JOIN eligibility_at_as_of AS e ON pop.subscriber_id = e.subscriber_id
WHERE e.person_id <> pop.person_id
