-- Counts in and out of each stage, and per reason, over the public tables.
SELECT 'documents' AS stage, status AS outcome, count(*) AS n FROM documents GROUP BY ALL
UNION ALL
SELECT 'rejects:' || stage, reason, count(*) FROM rejects GROUP BY ALL
UNION ALL
SELECT 'segments', CASE WHEN keep THEN 'kept' ELSE 'dropped' END, count(*) FROM segments GROUP BY ALL
UNION ALL
SELECT 'segments:reason', reason, count(*) FROM (SELECT unnest(reasons) AS reason FROM segments) GROUP BY ALL
ORDER BY stage, n DESC, outcome
