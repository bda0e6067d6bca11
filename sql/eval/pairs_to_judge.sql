-- Every pair of an evaluation run in both orders (A first, then B first), with whether this judge and
-- prompt already judged it (`done`; texts left out). A prompt that either side has no answer for
-- (status missing) is not judged.
-- Parameters: $prompt_set, $answers_a, $answers_b, $judge, $prompt_version.
WITH answers AS (
    SELECT * FROM eval_answers
    QUALIFY row_number() OVER (PARTITION BY answer_id ORDER BY created_at DESC) = 1
),
sides AS (
    SELECT p.prompt_id, p.instruction, a.answer_id AS a_id, a.answer AS a_text, b.answer_id AS b_id,
        b.answer AS b_text
    FROM eval_prompts AS p
    JOIN answers AS a ON a.prompt_id = p.prompt_id AND a.answer_set = $answers_a
    JOIN answers AS b ON b.prompt_id = p.prompt_id AND b.answer_set = $answers_b
    WHERE p.prompt_set = $prompt_set AND a.status <> 'missing' AND b.status <> 'missing'
),
orders AS (
    SELECT prompt_id, instruction, a_id AS first_answer_id, a_text AS first_text, b_id AS second_answer_id,
        b_text AS second_text
    FROM sides
    UNION ALL
    SELECT prompt_id, instruction, b_id, b_text, a_id, a_text FROM sides
),
done AS (
    SELECT DISTINCT first_answer_id, second_answer_id FROM eval_judgments
    WHERE model = $judge AND prompt_version = $prompt_version
)
SELECT
    o.prompt_id,
    o.first_answer_id,
    o.second_answer_id,
    CASE WHEN d.first_answer_id IS NULL THEN o.instruction END AS instruction,
    CASE WHEN d.first_answer_id IS NULL THEN o.first_text END AS first_text,
    CASE WHEN d.first_answer_id IS NULL THEN o.second_text END AS second_text,
    d.first_answer_id IS NOT NULL AS done
FROM orders AS o
LEFT JOIN done AS d USING (first_answer_id, second_answer_id)
-- the same two answers can stand for two runs' sides: judge each ordered pair once
QUALIFY row_number() OVER (PARTITION BY o.first_answer_id, o.second_answer_id ORDER BY o.prompt_id) = 1
ORDER BY o.prompt_id, o.first_answer_id
