-- The Self-Instruct (request, answer) pairs to rate: every generated instance with status ok, the
-- request being the task's instruction and, when there is one, the instance's input after a blank line;
-- and whether this model, prompt and mode already scored it in $iteration (`done`; texts left out).
-- Parameters: $iteration, $model, $prompt_version, $mode.
SELECT
    i.instance_id,
    i.task_id,
    CASE WHEN r.instance_id IS NULL THEN
        CASE WHEN i.input = '' THEN t.instruction ELSE t.instruction || chr(10) || chr(10) || i.input END
    END AS instruction,
    CASE WHEN r.instance_id IS NULL THEN i.output END AS text,
    r.instance_id IS NOT NULL AS done
FROM task_instances AS i
JOIN (SELECT DISTINCT task_id, instruction FROM task_candidates WHERE status = 'ok') AS t USING (task_id)
LEFT JOIN (
    SELECT DISTINCT instance_id FROM task_scores
    WHERE iteration = $iteration AND model = $model AND prompt_version = $prompt_version AND mode = $mode
) AS r USING (instance_id)
WHERE i.status = 'ok'
ORDER BY i.instance_id
