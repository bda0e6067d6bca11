-- Every scored (instruction, segment) pair: the segment and where it came from, the instruction and the
-- model and prompt that wrote it, and the score with the model, prompt and mode that gave it.
SELECT
    a.iteration,
    s.segment_id,
    s.doc_id,
    s.url,
    s.source,
    s.header_path,
    s.text AS output,
    s.n_words AS output_words,
    a.augmentation_id,
    a.instruction,
    a.instruction_words,
    a.model AS augment_model,
    a.prompt_version AS augment_prompt_version,
    a.params AS augment_params,
    r.score_id,
    r.mode,
    r.score,
    r.expected_score,
    r.probs,
    r.parse_status,
    r.model AS score_model,
    r.prompt_version AS score_prompt_version,
    r.params AS score_params
FROM stg_scores AS r
JOIN stg_augmentations AS a USING (augmentation_id)
JOIN stg_segments AS s ON s.segment_id = a.segment_id
WHERE r.status = 'ok'
