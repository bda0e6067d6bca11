-- Kept segments that have no augmentation yet for this iteration, model and prompt version.
-- Parameters: $iteration, $model, $prompt_version.
SELECT s.segment_id, s.text
FROM segments AS s
WHERE s.keep
  AND NOT EXISTS (
      SELECT 1 FROM augmentations AS a
      WHERE a.segment_id = s.segment_id
        AND a.iteration = $iteration
        AND a.model = $model
        AND a.prompt_version = $prompt_version
  )
ORDER BY s.segment_id
