-- The report's headline counts for one iteration. Parameters: $iteration, $k, $mode.
SELECT
    (SELECT count(*) FROM stg_documents) AS documents,
    (SELECT count(*) FROM stg_rejects) AS rejects,
    (SELECT count(*) FROM stg_segments) AS segments,
    (SELECT count(*) FROM stg_segments WHERE keep) AS kept_segments,
    (SELECT count(*) FROM stg_seeds) AS seeds,
    (SELECT count(*) FROM stg_augmentations WHERE iteration = $iteration) AS augmentations,
    (SELECT count(*) FROM stg_augmentations WHERE iteration = $iteration AND status = 'ok') AS instructions,
    -- segments left without a pair: no draw scored the drawing's floor (a missing pair, not a wrong one)
    (SELECT count(*) FROM stg_augmentations WHERE iteration = $iteration AND status = 'not_answered')
        AS not_answered,
    (SELECT count(*) FROM stg_scores WHERE iteration = $iteration AND mode = $mode AND status = 'ok') AS scored,
    (SELECT count(*) FROM pairs($iteration, $k, $mode) WHERE data = 'curated') AS curated
