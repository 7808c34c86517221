-- The pharmacy claim lines that can matter for the window: every version of a fill any of whose
-- lines delivered by the knowledge month was dispensed in the window (see medical_claim_window);
-- only the columns the final-claim rule's choice of version reads are carried.
SELECT
    r.claim_id,
    r.adjustment_sequence,
    r.paid_date,
    r.claim_status,
    r.delivery_month
FROM main.pharmacy_claim AS r
WHERE r.claim_id IN (
    SELECT c.claim_id
    FROM main.pharmacy_claim AS c
    CROSS JOIN params AS p
    WHERE c.delivery_month <= p.known_month
      AND c.dispensing_date BETWEEN p.window_start AND p.window_end
)
