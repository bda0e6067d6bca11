-- How often each reason occurs: per reject reason, and per segment reason (a segment can have several).
SELECT 'reject' AS kind, stage || ':' || reason AS reason, count(*) AS n FROM stg_rejects GROUP BY ALL
UNION ALL
SELECT 'segment', reason, count(*)
FROM (SELECT unnest(reasons) AS reason FROM stg_segments WHERE len(reasons) > 0)
GROUP BY ALL
ORDER BY kind, n DESC, reason
