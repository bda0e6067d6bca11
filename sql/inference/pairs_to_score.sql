-- (instruction, segment) pairs of one iteration that are not yet scored by this model, prompt and mode.
-- Only augmentations with a clean instruction are rated, and only of segments still kept.
-- Parameters: $iteration, $model, $prompt_version, $mode.
SELECT a.augmentation_id, a.segment_id, a.instruction, s.text
FROM augmentations AS a
JOIN segments AS s USING (segment_id)
WHERE a.iteration = $iteration
  AND a.status = 'ok'
  AND s.keep
  AND NOT EXISTS (
      SELECT 1 FROM scores AS r
      WHERE r.augmentation_id = a.augmentation_id
        AND r.model = $model
        AND r.prompt_version = $prompt_version
        AND r.mode = $mode
  )
ORDER BY a.augmentation_id
