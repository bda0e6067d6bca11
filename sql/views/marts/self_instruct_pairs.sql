-- self_instruct_pairs(iteration, k, mode): the Self-Instruct pairs that pass the same self-curation as
-- the backtranslated ones: generated instances rated in `iteration` by `mode` that meet A_k, one row
-- per instance, with the columns of training_pairs. The request is the task's instruction, then its
-- input after a blank line. The system prompt is the seed one: the answers are written as an
-- assistant would, not taken from the web.
CREATE OR REPLACE MACRO self_instruct_pairs(iteration_, k, mode_) AS TABLE
SELECT
    'self_instruct' AS origin,
    i.instance_id AS row_id,
    'Answer in the style of an AI Assistant.' AS system,
    CASE WHEN i.input = '' THEN t.instruction ELSE t.instruction || chr(10) || chr(10) || i.input END
        AS instruction,
    i.output,
    {
        'origin': 'self_instruct',
        'task_id': i.task_id,
        'instance_id': i.instance_id,
        'round': t.round,
        'task_model': t.model,
        'task_prompt_version': t.prompt_version,
        'instance_model': i.model,
        'instance_prompt_version': i.prompt_version,
        'score_id': s.score_id,
        'mode': s.mode,
        'score': s.score,
        'expected_score': s.expected_score,
        'score_model': s.model,
        'score_prompt_version': s.prompt_version
    }::JSON AS metadata
FROM stg_task_scores AS s
JOIN stg_task_instances AS i USING (instance_id)
JOIN stg_tasks AS t ON t.task_id = i.task_id AND t.origin = 'generated'
WHERE s.iteration = iteration_ AND s.mode = mode_ AND s.status = 'ok' AND i.status = 'ok'
  AND meets_threshold(s.score, s.expected_score, k)
QUALIFY row_number() OVER (PARTITION BY i.instance_id ORDER BY s.expected_score DESC, s.score_id) = 1
