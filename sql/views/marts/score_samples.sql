-- score_samples(iteration, k, mode, per_score): up to per_score scored pairs at each score, picked by a
-- hash of the score id (the same rows every time), with their membership of A_k and their source.
CREATE OR REPLACE MACRO score_samples(iteration_, k, mode_, per_score) AS TABLE
SELECT
    score,
    expected_score,
    p_good,
    meets_threshold(score, expected_score, k) AS curated,
    instruction,
    output,
    url,
    header_path,
    segment_id,
    score_id,
    score_model
FROM candidates
WHERE iteration = iteration_ AND mode = mode_
QUALIFY row_number() OVER (PARTITION BY score ORDER BY hash(score_id), score_id) <= per_score
ORDER BY score DESC NULLS LAST, expected_score DESC, score_id
