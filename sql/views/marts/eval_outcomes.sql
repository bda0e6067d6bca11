-- eval_outcomes: one row per evaluation run and prompt. Side A's answer and side B's, the judge's
-- verdict with A shown first and with B shown first, and the outcome for A. It is a win only when both
-- orders prefer A, a loss when both prefer B, and a tie when the verdicts disagree (position bias) or
-- either is even. `points` is 1, 0.5 or 0. `preference` is the mean calibrated probability that A is
-- better over the two orders. A prompt without both judgments (still running, a missing answer or an
-- unscored verdict) has a null outcome.
WITH runs AS (
    SELECT * FROM stg_eval_runs
    QUALIFY row_number() OVER (PARTITION BY eval_id ORDER BY created_at DESC) = 1
),
answers AS (
    SELECT * FROM stg_eval_answers
    QUALIFY row_number() OVER (PARTITION BY answer_id ORDER BY created_at DESC) = 1
),
judged AS (
    SELECT * FROM stg_eval_judgments WHERE status = 'ok'
    QUALIFY row_number() OVER (
        PARTITION BY first_answer_id, second_answer_id, model, prompt_version ORDER BY created_at
    ) = 1
),
paired AS (
    SELECT
        r.eval_id,
        p.prompt_id,
        p.position,
        p.source_id,
        p.category,
        p.instruction,
        a.answer_id AS answer_a_id,
        a.answer AS answer_a,
        a.status AS status_a,
        b.answer_id AS answer_b_id,
        b.answer AS answer_b,
        b.status AS status_b,
        ab.verdict AS verdict_a_first,
        ba.verdict AS verdict_b_first,
        ab.p_first_calibrated AS p_a_when_first,
        1 - ba.p_first_calibrated AS p_a_when_second
    FROM runs AS r
    JOIN (
        SELECT * FROM stg_eval_prompts
        QUALIFY row_number() OVER (PARTITION BY prompt_set, prompt_id ORDER BY created_at DESC) = 1
    ) AS p USING (prompt_set)
    LEFT JOIN answers AS a ON a.answer_set = r.answers_a AND a.prompt_id = p.prompt_id
    LEFT JOIN answers AS b ON b.answer_set = r.answers_b AND b.prompt_id = p.prompt_id
    LEFT JOIN judged AS ab
        ON ab.first_answer_id = a.answer_id AND ab.second_answer_id = b.answer_id
        AND ab.model = r.judge AND ab.prompt_version = r.judge_prompt_version
    LEFT JOIN judged AS ba
        ON ba.first_answer_id = b.answer_id AND ba.second_answer_id = a.answer_id
        AND ba.model = r.judge AND ba.prompt_version = r.judge_prompt_version
)
SELECT
    *,
    CASE
        WHEN verdict_a_first IS NULL OR verdict_b_first IS NULL THEN NULL
        WHEN verdict_a_first = 'first' AND verdict_b_first = 'second' THEN 'win'
        WHEN verdict_a_first = 'second' AND verdict_b_first = 'first' THEN 'loss'
        ELSE 'tie'
    END AS outcome,
    CASE outcome WHEN 'win' THEN 1.0 WHEN 'tie' THEN 0.5 WHEN 'loss' THEN 0.0 END AS points,
    (p_a_when_first + p_a_when_second) / 2 AS preference
FROM paired
