-- Final claims as known at the end of a month (inputs.md, "Final-claim rule"; docs/lake.md).
--
-- In plain English: take the claim lines delivered up to the as-of month and paid by its last
-- day. For each claim_id, its final version is the highest adjustment_sequence; when several
-- deliveries carry that sequence, the one with the latest paid_date wins. The lines of that
-- version are the claim. If the final version is reversed, the claim is gone. A denied final
-- version is kept, flagged is_denied: it is evidence of a diagnosis, not utilisation.
--
-- Parameters: $as_of_month (YYYY-MM), $as_of (DATE, last day of that month).
-- {claims} is medical_claim or pharmacy_claim (riskstrat.lake.final_claims_sql substitutes it).
WITH known AS (
    SELECT *
    FROM {claims}
    WHERE delivery_month <= $as_of_month
      AND paid_date <= $as_of
),
versions AS (
    SELECT claim_id, adjustment_sequence, MAX(paid_date) AS version_paid_date
    FROM known
    GROUP BY claim_id, adjustment_sequence
),
final_version AS (
    SELECT claim_id, adjustment_sequence, version_paid_date
    FROM (
        SELECT *,
               ROW_NUMBER() OVER (
                   PARTITION BY claim_id
                   ORDER BY adjustment_sequence DESC, version_paid_date DESC
               ) AS version_rank
        FROM versions
    ) ranked
    WHERE version_rank = 1
),
final_lines AS (
    SELECT k.*
    FROM known k
    JOIN final_version f
      ON k.claim_id = f.claim_id
     AND k.adjustment_sequence = f.adjustment_sequence
     AND k.paid_date = f.version_paid_date
),
status AS (
    SELECT claim_id,
           MAX(CASE WHEN claim_status = 'reversed' THEN 1 ELSE 0 END) AS is_reversed,
           MAX(CASE WHEN claim_status = 'denied' THEN 1 ELSE 0 END) AS any_denied
    FROM final_lines
    GROUP BY claim_id
)
SELECT l.*,
       s.any_denied = 1 AS is_denied
FROM final_lines l
JOIN status s ON l.claim_id = s.claim_id
WHERE s.is_reversed = 0
