-- The children riskstrat scores at the as-of month: enrolled on its last day, alive, and aged
-- 0 to 20 (before their 21st birthday) that day, in the eligibility snapshot of that month.
SELECT person_id, member_id, subscriber_id, age_years, sex_female, aid_category
FROM eligibility_at_as_of
WHERE enrolled = 1
  AND alive = 1
  AND age_years BETWEEN 0 AND 20
