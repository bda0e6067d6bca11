-- One evaluation run's results: overall first, then per prompt category.
-- Parameters: $eval_id.
SELECT * EXCLUDE (eval_id)
FROM eval_summary
WHERE eval_id = $eval_id
ORDER BY category <> 'all', category
