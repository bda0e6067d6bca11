-- How scores are distributed, per iteration, scoring model, prompt and mode.
SELECT
    iteration,
    model,
    prompt_version,
    mode,
    score,
    count(*) AS n,
    count(*) / sum(count(*)) OVER (PARTITION BY iteration, model, prompt_version, mode) AS share
FROM stg_scores
WHERE status = 'ok'
GROUP BY iteration, model, prompt_version, mode, score
ORDER BY iteration, model, prompt_version, mode, score
