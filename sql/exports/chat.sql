-- The training set as chat JSONL lines: system, user and assistant messages, then the provenance.
-- Parameters: $iteration, $k, $mode, $self_instruct (add the curated Self-Instruct pairs), $excluded
-- (row ids dropped by decontamination).
SELECT json_object(
    'messages', json_array(
        json_object('role', 'system', 'content', system),
        json_object('role', 'user', 'content', instruction),
        json_object('role', 'assistant', 'content', output)
    ),
    'metadata', metadata
)::VARCHAR AS line
FROM export_pairs($iteration, $k, $mode, $self_instruct)
WHERE NOT list_contains($excluded::VARCHAR[], row_id)
ORDER BY origin DESC, row_id
