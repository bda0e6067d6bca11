-- A trained model registered under this GGUF sha256, the newest first: how it is prompted and what it is.
-- Parameter: $model.
SELECT name, role, iteration, prompt_format, gguf_path
FROM models
WHERE gguf_sha256 = $model
ORDER BY created_at DESC
LIMIT 1
