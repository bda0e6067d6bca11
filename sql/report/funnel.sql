-- The ETL funnel, in stage order.
SELECT step, stage, n FROM funnel ORDER BY step
