-- The ETL funnel, in stage order; no rows when the ETL has read nothing yet.
SELECT step, stage, n
FROM funnel
WHERE (SELECT n FROM funnel WHERE step = 1) > 0
ORDER BY step
