-- The newest backward model p(instruction | output) trained on this warehouse, if any: augmentation
-- uses it by default. No parameters.
SELECT name, gguf_sha256, gguf_path, prompt_format, train_rows
FROM models
WHERE role = 'backward'
ORDER BY created_at DESC
LIMIT 1
