-- Which models, prompts and settings made the rows of the model stages, with row counts.
SELECT 'augment' AS stage, iteration, NULL AS mode, model, model_source, prompt_version, params,
       count(*) AS rows, min(created_at) AS first_row, max(created_at) AS last_row
FROM stg_augmentations
GROUP BY ALL
UNION ALL
SELECT 'curate', iteration, mode, model, model_source, prompt_version, params,
       count(*), min(created_at), max(created_at)
FROM stg_scores
GROUP BY ALL
ORDER BY iteration, stage, mode, first_row
