-- The prompts of a prompt set that an answer set has no answer for yet, in the file's order.
-- Parameters: $prompt_set, $answer_set.
SELECT p.prompt_id, p.instruction
FROM eval_prompts AS p
WHERE p.prompt_set = $prompt_set
  AND p.prompt_id NOT IN (SELECT prompt_id FROM eval_answers WHERE answer_set = $answer_set)
ORDER BY p.position
