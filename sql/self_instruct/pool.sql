-- The Self-Instruct task pool as the generation prompts and the novelty filter see it: seed tasks by
-- id, then the generated instructions accepted so far, in the order they were accepted.
SELECT task_id, instruction, origin, round
FROM (
    SELECT task_id, instruction, 'seed' AS origin, 0::INTEGER AS round, 0 AS prompt_index, 0 AS item
    FROM seed_tasks
    UNION ALL
    SELECT task_id, instruction, 'generated', round, prompt_index, item
    FROM task_candidates
    WHERE status = 'ok'
)
ORDER BY origin = 'generated', round, prompt_index, item, task_id
