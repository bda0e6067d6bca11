-- The ETL funnel over the public tables: records in, out and dropped at each stage, in stage order
-- (a segment counts at the first stage that drops it). One pass over each table.
WITH docs AS (
    SELECT count(*) AS documents, count(*) FILTER (WHERE status = 'no_text') AS no_text FROM stg_documents
),
rejected AS (
    SELECT
        count(*) AS records,
        count(*) FILTER (WHERE stage = 'read') AS read,
        count(*) FILTER (WHERE stage = 'decode') AS decode,
        count(*) FILTER (WHERE stage = 'extract') AS extract
    FROM stg_rejects
),
flagged AS (
    SELECT
        len(list_filter(reasons, lambda r: r LIKE 'lang:%' OR r = 'low_lang_score')) > 0 AS language,
        len(list_filter(reasons, lambda r: r <> 'duplicate')) > 0 AS quality,
        is_duplicate
    FROM stg_segments
),
segs AS (
    SELECT
        count(*) AS segments,
        count(*) FILTER (WHERE language) AS language,
        count(*) FILTER (WHERE NOT language AND quality) AS quality,
        count(*) FILTER (WHERE NOT language AND NOT quality AND is_duplicate) AS dedup,
        count(*) FILTER (WHERE NOT language AND NOT quality AND NOT is_duplicate) AS kept
    FROM flagged
)
SELECT unnest(
    [
        {'step': 1, 'stage': 'records read', 'n': documents + records},
        {'step': 2, 'stage': 'rejected: read', 'n': read},
        {'step': 3, 'stage': 'rejected: decode', 'n': decode},
        {'step': 4, 'stage': 'rejected: extract', 'n': extract},
        {'step': 5, 'stage': 'documents', 'n': documents},
        {'step': 6, 'stage': 'documents without main text', 'n': no_text},
        {'step': 7, 'stage': 'segments', 'n': segments},
        {'step': 8, 'stage': 'dropped: language', 'n': language},
        {'step': 9, 'stage': 'dropped: quality', 'n': quality},
        {'step': 10, 'stage': 'dropped: duplicate', 'n': dedup},
        {'step': 11, 'stage': 'segments kept', 'n': kept}
    ],
    recursive := true
)
FROM docs, rejected, segs
