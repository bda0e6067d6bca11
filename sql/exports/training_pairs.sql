-- The training set of one iteration: every seed pair, then the curated set A_k of the scoring mode,
-- one row per segment, each with where it came from. Parameters: $iteration, $k, $mode.
SELECT
    'seed' AS source,
    seed_id AS row_id,
    instruction,
    output,
    {
        'seed_id': seed_id,
        'source_format': source_format,
        'source_record': source,
        'source_ref': source_ref
    }::JSON AS metadata
FROM stg_seeds
UNION ALL
SELECT
    'augmented',
    segment_id,
    instruction,
    output,
    {
        'segment_id': segment_id,
        'url': url,
        'source_record': source,
        'iteration': iteration,
        'augmentation_id': augmentation_id,
        'augment_model': augment_model,
        'augment_prompt_version': augment_prompt_version,
        'score_id': score_id,
        'mode': mode,
        'score': score,
        'expected_score': expected_score,
        'score_model': score_model,
        'score_prompt_version': score_prompt_version
    }::JSON
FROM curated($iteration, $k)
WHERE mode = $mode
QUALIFY row_number() OVER (PARTITION BY segment_id ORDER BY expected_score DESC, score_id) = 1
ORDER BY 1 DESC, 2
