-- pairs(iteration, k, mode): the (instruction, output) pairs of one iteration by where they stand:
-- 'seed' (the seed set), 'augmented' (every clean augmentation the iteration rates: those of the newest
-- augmentation iteration up to it) and 'curated' (A_k in the scoring mode, one row per segment, as the
-- training export takes it). Word counts come along; an output's is the
-- segment's n_words, counted by the ETL the same way as word_count().
CREATE OR REPLACE MACRO pairs(iteration_, k, mode_) AS TABLE
SELECT 'seed' AS data, seed_id AS row_id, instruction, output,
       word_count(instruction) AS instruction_words, word_count(output) AS output_words
FROM stg_seeds
UNION ALL
SELECT 'augmented', a.augmentation_id, a.instruction, s.text, a.instruction_words, s.n_words
FROM active_augmentations AS a
JOIN stg_segments AS s USING (segment_id)
WHERE a.iteration = (SELECT max(iteration) FROM active_augmentations WHERE iteration <= iteration_)
UNION ALL
SELECT 'curated', score_id, instruction, output, instruction_words, output_words
FROM curated(iteration_, k)
WHERE mode = mode_
QUALIFY row_number() OVER (PARTITION BY segment_id ORDER BY expected_score DESC, score_id) = 1
