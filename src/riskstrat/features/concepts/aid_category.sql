-- The Medicaid aid category (eligibility basis) a child is enrolled under at the as-of month:
-- foster care, adoption assistance, SSI/disability, TANF, CHIP or other.
SELECT person_id, aid_category AS grp
FROM population
WHERE aid_category IS NOT NULL
