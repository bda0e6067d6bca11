-- The size of the curated sets A_k of one iteration, per scoring model, prompt and mode: pairs scored,
-- A_4 and A_5 on the score, and A_4.5 on the expected score (direct mode) or the score (reasoned).
-- Parameter: $iteration.
SELECT
    mode,
    model,
    prompt_version,
    count(*) AS pairs,
    count(*) FILTER (WHERE status = 'ok') AS scored,
    count(*) FILTER (WHERE score >= 4) AS a4,
    count(*) FILTER (WHERE expected_score >= 4.5) AS a4_5,
    count(*) FILTER (WHERE score >= 5) AS a5,
    round(avg(expected_score), 3) AS mean_expected_score
FROM scores
WHERE iteration = $iteration
GROUP BY ALL
ORDER BY mode, model, prompt_version
