-- The (instruction, segment) pairs to rate: augmentations of iteration $augment_iteration (by
-- $augment_model, when given) with a clean instruction, of segments still kept, and whether this model,
-- prompt and mode already scored them in $iteration (`done`; their texts are left out, as the stage
-- only needs the count of those).
-- Parameters: $iteration, $augment_iteration, $augment_model, $model, $prompt_version, $mode.
SELECT
    a.augmentation_id,
    a.segment_id,
    CASE WHEN r.augmentation_id IS NULL THEN a.instruction END AS instruction,
    CASE WHEN r.augmentation_id IS NULL THEN s.text END AS text,
    r.augmentation_id IS NOT NULL AS done
FROM augmentations AS a
JOIN segments AS s USING (segment_id)
LEFT JOIN (
    SELECT DISTINCT augmentation_id FROM scores
    WHERE iteration = $iteration AND model = $model AND prompt_version = $prompt_version AND mode = $mode
) AS r USING (augmentation_id)
WHERE a.iteration = $augment_iteration
  AND ($augment_model IS NULL OR a.model = $augment_model)
  AND a.status = 'ok'
  AND s.keep
ORDER BY a.augmentation_id
