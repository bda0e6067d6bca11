-- Generated tasks that this model and instance prompt have not yet written instances for, with the
-- classification the same model gave them (it decides output-first or input-first). `done` marks the
-- tasks already instantiated. Parameters: $model, $prompt_version.
SELECT
    t.task_id,
    CASE WHEN i.task_id IS NULL THEN t.instruction END AS instruction,
    coalesce(c.is_classification, false) AS is_classification,
    i.task_id IS NOT NULL AS done
FROM task_candidates AS t
JOIN (
    SELECT task_id, arg_max(is_classification, created_at) AS is_classification
    FROM task_classes
    WHERE model = $model
    GROUP BY task_id
) AS c USING (task_id)
LEFT JOIN (
    SELECT DISTINCT task_id FROM task_instances WHERE model = $model AND prompt_version = $prompt_version
) AS i USING (task_id)
WHERE t.status = 'ok'
ORDER BY t.task_id
