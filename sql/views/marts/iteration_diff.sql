-- iteration_diff(t, k): segments scored in both iteration t and t + 1 (in the same mode) whose score or
-- membership of A_k changed between them.
CREATE OR REPLACE MACRO iteration_diff(t, k) AS TABLE
WITH scored AS (
    SELECT
        segment_id,
        iteration,
        mode,
        instruction,
        score,
        expected_score,
        meets_threshold(score, expected_score, k) AS curated
    FROM candidates
    WHERE iteration IN (t, t + 1)
),
before AS (SELECT * FROM scored WHERE iteration = t),
after AS (SELECT * FROM scored WHERE iteration = t + 1)
SELECT
    b.segment_id,
    b.mode,
    b.instruction AS instruction_before,
    a.instruction AS instruction_after,
    b.score AS score_before,
    a.score AS score_after,
    b.expected_score AS expected_score_before,
    a.expected_score AS expected_score_after,
    b.curated AS curated_before,
    a.curated AS curated_after
FROM before AS b
JOIN after AS a ON a.segment_id = b.segment_id AND a.mode = b.mode
WHERE b.score IS DISTINCT FROM a.score OR b.curated IS DISTINCT FROM a.curated
