-- What the plan paid for each child's care in the outcome window (paid_amounts: medical lines and
-- pharmacy fills of final claims, as known at the end of the run-out). Only a cost outcome reads
-- it (high_cost, kept to compare with the outcomes of need), so labels build it only when an
-- outcome asked for needs it. The sum is cast to the type both engines agree on (outcomes.sql).
SELECT e.person_id, CAST(SUM(e.value) AS DOUBLE) AS paid
FROM paid_amounts AS e
CROSS JOIN params AS p
WHERE e.event_date BETWEEN p.outcome_start AND p.outcome_end
GROUP BY e.person_id
