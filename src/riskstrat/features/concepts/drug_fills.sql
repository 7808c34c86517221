-- Fills of the drug classes a care manager reads (atc_drug_classes: stimulants, antipsychotics,
-- asthma controllers ...), one row per fill and class. An ATC code is matched exactly or by
-- prefix; the longest matching code wins (atomoxetine N06BA09 is a non-stimulant although it
-- sits under N06BA).
WITH atc_seen AS (
    SELECT DISTINCT atc_code FROM pharmacy_fills WHERE atc_code IS NOT NULL
),
candidates AS (
    SELECT s.atc_code, c.grp, LENGTH(c.code) AS matched_length
    FROM atc_seen AS s
    INNER JOIN codeset_atc_drug_classes AS c ON s.atc_code = c.code
    WHERE c.match = 'exact'
    UNION ALL
    SELECT s.atc_code, c.grp, LENGTH(c.code)
    FROM atc_seen AS s
    INNER JOIN codeset_atc_drug_classes AS c ON s.atc_code LIKE c.code || '%'
    WHERE c.match = 'prefix'
),
matches AS (
    SELECT atc_code, grp, RANK() OVER (PARTITION BY atc_code ORDER BY matched_length DESC) AS specificity
    FROM candidates
)
SELECT f.person_id, f.event_date, f.days_supply, f.atc_code, m.grp
FROM pharmacy_fills AS f
INNER JOIN matches AS m ON f.atc_code = m.atc_code
WHERE m.specificity = 1
