-- The public segments table: staged segments with their filter reasons, duplicate flags and `keep`.
SELECT
    s.* EXCLUDE (bands),
    c.dup_cluster,
    coalesce(c.is_duplicate, false) AS is_duplicate,
    len(r.reasons) = 0 AND NOT coalesce(c.is_duplicate, false) AS keep,
    list_concat(r.reasons, CASE WHEN coalesce(c.is_duplicate, false) THEN ['duplicate'] ELSE [] END) AS reasons
FROM (SELECT DISTINCT ON (segment_id) * FROM staged_segments) AS s
JOIN filter_reasons AS r USING (segment_id)
LEFT JOIN dup_clusters AS c USING (segment_id)
ORDER BY s.doc_id, s.position
