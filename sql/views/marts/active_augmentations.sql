-- Clean augmentations written by the active backward model of their iteration, or by any model where no
-- trained backward model is registered for it.
SELECT a.*
FROM stg_augmentations AS a
LEFT JOIN active_models AS m ON m.role = 'backward' AND m.iteration = a.iteration
WHERE a.status = 'ok' AND (m.gguf_sha256 IS NULL OR a.model = m.gguf_sha256)
