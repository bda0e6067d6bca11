-- training_pairs(iteration, k, mode): the training set of one iteration. Every seed pair, then the
-- curated set A_k of the scoring mode, one row per segment, each with the paper's system prompt for
-- its origin and its provenance as JSON.
CREATE OR REPLACE MACRO training_pairs(iteration_, k, mode_) AS TABLE
SELECT
    'seed' AS origin,
    seed_id AS row_id,
    'Answer in the style of an AI Assistant.' AS system,
    instruction,
    output,
    {
        'origin': 'seed',
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
    'Answer with knowledge from web search.',
    instruction,
    output,
    {
        'origin': 'augmented',
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
FROM curated(iteration_, k)
WHERE mode = mode_
QUALIFY row_number() OVER (PARTITION BY segment_id ORDER BY expected_score DESC, score_id) = 1
