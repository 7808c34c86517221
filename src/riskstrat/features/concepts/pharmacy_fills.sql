-- Pharmacy fills as the plan knew them at the knowledge date, dispensed in the window.
-- final_pharmacy_claim is the lake's final-claim rule (lake/final_claims.sql) as of the knowledge
-- month; a denied fill was never dispensed and is dropped. The drug's ATC code is the PBM's
-- where supplied, else the NDC's (ndc_products).
SELECT
    f.person_id,
    f.claim_id,
    f.dispensing_date AS event_date,
    f.days_supply,
    f.paid_amount,
    COALESCE(f.atc_code, n.atc_code) AS atc_code,
    f.known_from,
    f.known_until
FROM final_pharmacy_claim AS f
CROSS JOIN params AS p
LEFT JOIN codeset_ndc_products AS n ON f.ndc_code = n.code
WHERE NOT f.is_denied
  AND f.dispensing_date BETWEEN p.window_start AND p.window_end
