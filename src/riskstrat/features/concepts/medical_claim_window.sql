-- The medical claim lines that can matter for the window: every line, of every version, of a
-- claim any of whose lines delivered by the knowledge month has a service date in the window.
-- The lake's final-claim rule chooses each claim's version among these only; it no longer walks
-- the whole history of the plan for a 24-month window. Nothing is lost: a claim whose final
-- version has a line in the window has such a line. Only the columns the choice reads are
-- carried: the chosen versions' lines are read from the table itself (lake/final_claims.sql).
SELECT
    m.claim_id,
    m.adjustment_sequence,
    m.paid_date,
    m.claim_status,
    m.delivery_month
FROM main.medical_claim AS m
WHERE m.claim_id IN (
    SELECT c.claim_id
    FROM main.medical_claim AS c
    CROSS JOIN params AS p
    WHERE c.delivery_month <= p.known_month
      AND COALESCE(c.claim_line_start_date, c.claim_start_date) BETWEEN p.window_start AND p.window_end
)
