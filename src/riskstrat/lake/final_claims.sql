-- Final claims as known at the end of each month from $known_first to $known_last (inputs.md,
-- "Final-claim rule"; docs/lake.md).
--
-- In plain English: at the end of a month the plan knows a claim by its lines delivered by that
-- month and paid by its last day. The claim's final version is the highest adjustment_sequence;
-- when several deliveries carry that sequence, the one with the latest paid_date wins. The lines
-- of that version are the claim. If the final version is reversed, the claim is gone. A denied
-- final version is kept, flagged is_denied: it is evidence of a diagnosis, not utilisation.
--
-- What the plan knows of a claim changes only in a month in which one of its lines becomes known
-- (the later of its delivery month and its paid month). So the rule is applied once at each such
-- month, and what it gives stands from that month (known_from) until the claim's next one
-- (known_until, '9999-12' when there is none): a line is in the final claims of month T when
-- known_from <= T < known_until. One pass gives every month of the range; one month is a range of
-- one. Training builds 16 as-of months from one pass instead of choosing every claim's version 16
-- times (riskstrat.features.build.build_feature_months).
--
-- The version is chosen on the four columns the rule needs (known to kept); the lines, with their
-- 25 diagnosis columns, are read once, at the end. Carried whole through every step they made the
-- feature build's medical-claims step take half as long again.
--
-- Parameters: $known_first and $known_last (YYYY-MM), $known_last_date (DATE, the last day of
-- $known_last). The table is medical_claim or pharmacy_claim. The versions are chosen among its
-- lines, or among a subquery's standing in for them (the claims that can matter for the feature
-- build's window); riskstrat.lake.final_claims_sql writes which. The lines are then read from the
-- table: the chosen versions already name only those claims, and reading the lines through the
-- subquery again made DuckDB hash every line, with its 25 diagnosis columns, to filter them (7 of
-- a month's 10 seconds of medical claims on 500k members).
WITH known AS (
    SELECT c.claim_id,
           c.adjustment_sequence,
           c.paid_date,
           c.claim_status,
           GREATEST(c.delivery_month, STRFTIME(c.paid_date, '%Y-%m')) AS known_month
    FROM {claims} AS c
    WHERE c.delivery_month <= $known_last
      AND c.paid_date <= $known_last_date
),
moments AS (
    SELECT claim_id,
           known_from,
           COALESCE(LEAD(known_from) OVER (PARTITION BY claim_id ORDER BY known_from), '9999-12') AS known_until
    FROM (SELECT DISTINCT claim_id, known_month AS known_from FROM known) AS changes
),
versions AS (
    SELECT m.claim_id, m.known_from, m.known_until, k.adjustment_sequence, MAX(k.paid_date) AS version_paid_date
    FROM moments AS m
    JOIN known AS k
      ON k.claim_id = m.claim_id
     AND k.known_month <= m.known_from
    WHERE m.known_until > $known_first
    GROUP BY m.claim_id, m.known_from, m.known_until, k.adjustment_sequence
),
final_version AS (
    SELECT claim_id, known_from, known_until, adjustment_sequence, version_paid_date
    FROM (
        SELECT *,
               ROW_NUMBER() OVER (
                   PARTITION BY claim_id, known_from
                   ORDER BY adjustment_sequence DESC, version_paid_date DESC
               ) AS version_rank
        FROM versions
    ) ranked
    WHERE version_rank = 1
),
status AS (
    SELECT f.claim_id,
           f.known_from,
           MAX(CASE WHEN k.claim_status = 'reversed' THEN 1 ELSE 0 END) AS is_reversed,
           MAX(CASE WHEN k.claim_status = 'denied' THEN 1 ELSE 0 END) AS any_denied
    FROM final_version AS f
    JOIN known AS k
      ON k.claim_id = f.claim_id
     AND k.adjustment_sequence = f.adjustment_sequence
     AND k.paid_date = f.version_paid_date
     AND k.known_month <= f.known_from
    GROUP BY f.claim_id, f.known_from
),
kept AS (
    SELECT f.claim_id, f.adjustment_sequence, f.version_paid_date, f.known_from, f.known_until,
           s.any_denied = 1 AS is_denied
    FROM final_version AS f
    JOIN status AS s ON f.claim_id = s.claim_id AND f.known_from = s.known_from
    WHERE s.is_reversed = 0
)
SELECT l.*,
       kept.is_denied,
       kept.known_from,
       kept.known_until
FROM {table} AS l
JOIN kept
  ON l.claim_id = kept.claim_id
 AND l.adjustment_sequence = kept.adjustment_sequence
 AND l.paid_date = kept.version_paid_date
WHERE l.delivery_month <= $known_last
  AND l.paid_date <= $known_last_date
  AND GREATEST(l.delivery_month, STRFTIME(l.paid_date, '%Y-%m')) <= kept.known_from
