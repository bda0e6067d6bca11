-- The `tasks` table: the seed tasks and every accepted generated task, with its classification (the
-- newest decision) and its instances (those with status ok, from every model that wrote some).
WITH classes AS (
    SELECT task_id, arg_max(is_classification, created_at) AS is_classification
    FROM task_classes
    WHERE status = 'ok'
    GROUP BY task_id
),
instances AS (
    SELECT task_id, list({'input': input, 'output': output} ORDER BY model, sample) AS instances
    FROM task_instances
    WHERE status = 'ok'
    GROUP BY task_id
)
SELECT
    s.task_id,
    s.instruction,
    s.instances,
    coalesce(s.is_classification, c.is_classification) AS is_classification,
    'seed' AS origin,
    0::INTEGER AS round,
    s.source,
    NULL::VARCHAR AS model,
    NULL::VARCHAR AS prompt_version
FROM seed_tasks AS s
LEFT JOIN classes AS c USING (task_id)
UNION ALL
SELECT
    g.task_id,
    g.instruction,
    coalesce(i.instances, []),
    c.is_classification,
    'generated',
    g.round,
    g.candidate_id,
    g.model,
    g.prompt_version
FROM task_candidates AS g
LEFT JOIN classes AS c USING (task_id)
LEFT JOIN instances AS i USING (task_id)
WHERE g.status = 'ok'
ORDER BY origin DESC, round, task_id
