-- Every kept segment, and whether it already has an augmentation for this iteration, model and prompt
-- version (`done`; its text is left out, as the stage only needs the count of those).
-- Parameters: $iteration, $model, $prompt_version.
SELECT
    s.segment_id,
    CASE WHEN a.segment_id IS NULL THEN s.text END AS text,
    a.segment_id IS NOT NULL AS done
FROM segments AS s
LEFT JOIN (
    SELECT DISTINCT segment_id FROM augmentations
    WHERE iteration = $iteration AND model = $model AND prompt_version = $prompt_version
) AS a USING (segment_id)
WHERE s.keep
ORDER BY s.segment_id
