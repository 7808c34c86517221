-- What the plan paid for a child's care, by service date: paid medical lines and pharmacy fills
-- of final claims (adjustments and reversals already netted by the final-claim rule).
-- Amounts are exact cents, so sums do not depend on the order a parallel engine adds them in
-- (the same lake must give the same features, to the last bit).
SELECT person_id, service_date AS event_date, CAST(paid_amount AS DECIMAL(18, 2)) AS value, known_from, known_until
FROM medical_claims
WHERE is_denied = 0
UNION ALL
SELECT person_id, event_date, CAST(paid_amount AS DECIMAL(18, 2)), known_from, known_until
FROM pharmacy_fills
