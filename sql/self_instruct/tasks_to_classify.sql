-- Tasks whose classification this model and prompt still owe: generated tasks, and seed tasks whose
-- file did not say. `done` marks those already decided (their texts are left out).
-- Parameters: $model, $prompt_version.
SELECT
    p.task_id,
    CASE WHEN c.task_id IS NULL THEN p.instruction END AS instruction,
    c.task_id IS NOT NULL AS done
FROM (
    SELECT task_id, instruction FROM task_candidates WHERE status = 'ok'
    UNION ALL
    SELECT task_id, instruction FROM seed_tasks WHERE is_classification IS NULL
) AS p
LEFT JOIN (
    SELECT DISTINCT task_id FROM task_classes WHERE model = $model AND prompt_version = $prompt_version
) AS c USING (task_id)
ORDER BY p.task_id
