-- The training set as alpaca JSONL lines: instruction, an empty input, output, the system prompt and
-- the provenance. Parameters: $iteration, $k, $mode, $self_instruct (add the curated Self-Instruct
-- pairs), $excluded (row ids dropped by decontamination).
SELECT json_object(
    'instruction', instruction,
    'input', '',
    'output', output,
    'system', system,
    'metadata', metadata
)::VARCHAR AS line
FROM export_pairs($iteration, $k, $mode, $self_instruct)
WHERE NOT list_contains($excluded::VARCHAR[], row_id)
ORDER BY origin DESC, row_id
