-- Near-duplicate clusters: every member, and the representative the ETL kept (the cluster id is its
-- segment id; a cluster whose members all fail a filter keeps none).
SELECT
    dup_cluster,
    segment_id,
    segment_id = dup_cluster AS is_representative,
    keep,
    is_duplicate,
    count(*) OVER (PARTITION BY dup_cluster) AS cluster_size,
    url,
    header_path,
    text
FROM stg_segments
WHERE dup_cluster IS NOT NULL
ORDER BY dup_cluster, is_representative DESC, segment_id
