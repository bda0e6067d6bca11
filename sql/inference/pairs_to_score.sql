-- The (instruction, segment) pairs of one iteration: augmentations with a clean instruction of segments
-- still kept, and whether this model, prompt and mode already scored them (`done`; their texts are
-- left out, as the stage only needs the count of those).
-- Parameters: $iteration, $model, $prompt_version, $mode.
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
    WHERE model = $model AND prompt_version = $prompt_version AND mode = $mode
) AS r USING (augmentation_id)
WHERE a.iteration = $iteration
  AND a.status = 'ok'
  AND s.keep
ORDER BY a.augmentation_id
