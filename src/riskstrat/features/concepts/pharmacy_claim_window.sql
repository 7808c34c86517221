-- The pharmacy claim lines that can matter for the window: every version of a fill any of whose
-- lines delivered by the knowledge month was dispensed in the window (see medical_claim_window);
-- only the columns the features read and the rule needs are carried.
SELECT
    r.claim_id,
    r.person_id,
    r.dispensing_date,
    r.ndc_code,
    r.atc_code,
    r.days_supply,
    r.paid_date,
    r.paid_amount,
    r.claim_status,
    r.adjustment_sequence,
    r.delivery_month
FROM main.pharmacy_claim AS r
WHERE r.claim_id IN (
    SELECT c.claim_id
    FROM main.pharmacy_claim AS c
    CROSS JOIN params AS p
    WHERE c.delivery_month <= p.known_month
      AND c.dispensing_date BETWEEN p.window_start AND p.window_end
)
