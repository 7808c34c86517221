-- Final claims as known at the end of a month (inputs.md, "Final-claim rule"; docs/lake.md).
--
-- In plain English: take the claim lines delivered up to the as-of month and paid by its last
-- day. For each claim_id, its final version is the highest adjustment_sequence; when several
-- deliveries carry that sequence, the one with the latest paid_date wins. The lines of that
-- version are the claim. If the final version is reversed, the claim is gone. A denied final
-- version is kept, flagged is_denied: it is evidence of a diagnosis, not utilisation.
--
-- The version is chosen on the four columns the rule needs (known to kept); the lines, with their
-- 25 diagnosis columns, are read once, at the end. Carried whole through every step they made the
-- feature build's medical-claims step take half as long again.
--
-- Parameters: $as_of_month (YYYY-MM), $as_of (DATE, last day of that month).
-- The table is medical_claim or pharmacy_claim. The versions are chosen among its lines, or among
-- a subquery's standing in for them (the claims that can matter for the feature build's window);
-- riskstrat.lake.final_claims_sql writes which. The lines are then read from the table: the
-- chosen versions already name only those claims, and reading the lines through the subquery
-- again made DuckDB hash every line, with its 25 diagnosis columns, to filter them (7 of a
-- month's 10 seconds of medical claims on 500k members).
WITH known AS (
    SELECT c.claim_id, c.adjustment_sequence, c.paid_date, c.claim_status
    FROM {claims} AS c
    WHERE c.delivery_month <= $as_of_month
      AND c.paid_date <= $as_of
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
status AS (
    SELECT k.claim_id,
           MAX(CASE WHEN k.claim_status = 'reversed' THEN 1 ELSE 0 END) AS is_reversed,
           MAX(CASE WHEN k.claim_status = 'denied' THEN 1 ELSE 0 END) AS any_denied
    FROM known k
    JOIN final_version f
      ON k.claim_id = f.claim_id
     AND k.adjustment_sequence = f.adjustment_sequence
     AND k.paid_date = f.version_paid_date
    GROUP BY k.claim_id
),
kept AS (
    SELECT f.claim_id, f.adjustment_sequence, f.version_paid_date, s.any_denied = 1 AS is_denied
    FROM final_version f
    JOIN status s ON f.claim_id = s.claim_id
    WHERE s.is_reversed = 0
)
SELECT l.*,
       kept.is_denied
FROM {table} AS l
JOIN kept
  ON l.claim_id = kept.claim_id
 AND l.adjustment_sequence = kept.adjustment_sequence
 AND l.paid_date = kept.version_paid_date
WHERE l.delivery_month <= $as_of_month
  AND l.paid_date <= $as_of
