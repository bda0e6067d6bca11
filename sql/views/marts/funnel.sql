-- The ETL funnel over the public tables: records in, out and dropped at each stage, in stage order
-- (a segment counts at the first stage that drops it).
WITH segment_stage AS (
    SELECT
        CASE
            WHEN len(list_filter(reasons, lambda r: r LIKE 'lang:%' OR r = 'low_lang_score')) > 0 THEN 'language'
            WHEN len(list_filter(reasons, lambda r: r <> 'duplicate')) > 0 THEN 'quality'
            WHEN is_duplicate THEN 'dedup'
            ELSE 'kept'
        END AS stage
    FROM stg_segments
)
SELECT 1 AS step, 'records read' AS stage, (SELECT count(*) FROM stg_documents) + (SELECT count(*) FROM stg_rejects) AS n
UNION ALL SELECT 2, 'rejected: read', count(*) FROM stg_rejects WHERE stage = 'read'
UNION ALL SELECT 3, 'rejected: decode', count(*) FROM stg_rejects WHERE stage = 'decode'
UNION ALL SELECT 4, 'rejected: extract', count(*) FROM stg_rejects WHERE stage = 'extract'
UNION ALL SELECT 5, 'documents', count(*) FROM stg_documents
UNION ALL SELECT 6, 'documents without main text', count(*) FROM stg_documents WHERE status = 'no_text'
UNION ALL SELECT 7, 'segments', count(*) FROM stg_segments
UNION ALL SELECT 8, 'dropped: language', count(*) FROM segment_stage WHERE stage = 'language'
UNION ALL SELECT 9, 'dropped: quality', count(*) FROM segment_stage WHERE stage = 'quality'
UNION ALL SELECT 10, 'dropped: duplicate', count(*) FROM segment_stage WHERE stage = 'dedup'
UNION ALL SELECT 11, 'segments kept', count(*) FROM segment_stage WHERE stage = 'kept'
ORDER BY step
