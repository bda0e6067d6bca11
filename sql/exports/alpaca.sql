-- The training set as alpaca JSONL lines: instruction, an empty input, output, the system prompt and
-- the provenance. Parameters: $iteration, $k, $mode, $excluded (row ids dropped by decontamination).
SELECT json_object(
    'instruction', instruction,
    'input', '',
    'output', output,
    'system', system,
    'metadata', metadata
)::VARCHAR AS line
FROM training_pairs($iteration, $k, $mode)
WHERE NOT list_contains($excluded::VARCHAR[], row_id)
ORDER BY origin DESC, row_id
