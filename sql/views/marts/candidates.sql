-- Every scored (instruction, segment) pair: the segment and where it came from, the instruction and the
-- model and prompt that wrote it, and the score with the model, prompt and mode that gave it.
-- `iteration` is the scoring iteration t (M_t rated the pair; A_k of t trains M_{t+1}); the instruction
-- may come from an earlier one (`augment_iteration`), as the loop writes instructions once and rescores.
-- Where a trained model is registered for a role and iteration, only its rows count (active_models).
SELECT
    r.iteration,
    a.iteration AS augment_iteration,
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
    r.p_good,
    r.calibration,
    r.parse_status,
    r.model AS score_model,
    r.prompt_version AS score_prompt_version,
    r.params AS score_params
FROM stg_scores AS r
JOIN active_augmentations AS a USING (augmentation_id)
JOIN stg_segments AS s ON s.segment_id = a.segment_id
LEFT JOIN active_models AS m ON m.role = 'forward' AND m.iteration = r.iteration
WHERE r.status = 'ok' AND (m.gguf_sha256 IS NULL OR r.model = m.gguf_sha256)
