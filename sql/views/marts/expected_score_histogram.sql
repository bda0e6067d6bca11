-- How expected scores (sum of k * p(k), direct mode) are distributed, per iteration, scoring model,
-- prompt and mode, in bins a quarter point wide from 1 to 5: where a fractional threshold such as 4.5
-- cuts.
SELECT
    iteration,
    model,
    prompt_version,
    mode,
    least(floor(expected_score * 4) / 4, 4.75) AS bin_from,
    count(*) AS n,
    count(*) / sum(count(*)) OVER (PARTITION BY iteration, model, prompt_version, mode) AS share
FROM stg_scores
WHERE status = 'ok' AND expected_score IS NOT NULL
GROUP BY iteration, model, prompt_version, mode, bin_from
ORDER BY iteration, model, prompt_version, mode, bin_from
