-- The iterations and scoring modes that have scores, newest iteration and most-scored mode first: the
-- report's default scope.
SELECT iteration, mode, count(*) AS n
FROM stg_scores
WHERE status = 'ok'
GROUP BY iteration, mode
ORDER BY iteration DESC, n DESC, mode
