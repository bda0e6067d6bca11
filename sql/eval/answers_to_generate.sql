-- Every prompt of a prompt set, and whether the answer set has its answer already (`done`), in the
-- file's order. Parameters: $prompt_set, $answer_set.
SELECT
    p.prompt_id,
    p.instruction,
    p.prompt_id IN (SELECT prompt_id FROM eval_answers WHERE answer_set = $answer_set) AS done
FROM eval_prompts AS p
WHERE p.prompt_set = $prompt_set
ORDER BY p.position
