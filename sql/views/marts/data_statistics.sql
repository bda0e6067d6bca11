-- data_statistics(iteration, mode): the paper's data statistics table (its Table 2). For the seed set,
-- all augmented pairs, A_4 and A_5: the count and the mean and standard deviation of instruction and
-- output lengths in words.
CREATE OR REPLACE MACRO data_statistics(iteration_, mode_) AS TABLE
WITH pairs AS (
    SELECT 1 AS step, 'seed' AS data, instruction, output FROM stg_seeds
    UNION ALL
    SELECT 2, 'augmented', a.instruction, s.text
    FROM stg_augmentations AS a JOIN stg_segments AS s USING (segment_id)
    WHERE a.iteration = iteration_ AND a.status = 'ok'
    UNION ALL
    SELECT 3, 'A_4', instruction, output FROM curated(iteration_, 4) WHERE mode = mode_
    UNION ALL
    SELECT 4, 'A_5', instruction, output FROM curated(iteration_, 5) WHERE mode = mode_
),
lengths AS (
    SELECT
        step,
        data,
        len(regexp_split_to_array(trim(instruction), '\s+')) AS instruction_words,
        len(regexp_split_to_array(trim(output), '\s+')) AS output_words
    FROM pairs
)
SELECT
    data,
    count(l.step) AS n,
    round(avg(instruction_words), 1) AS instruction_words_mean,
    round(stddev_samp(instruction_words), 1) AS instruction_words_std,
    round(avg(output_words), 1) AS output_words_mean,
    round(stddev_samp(output_words), 1) AS output_words_std
FROM (VALUES (1, 'seed'), (2, 'augmented'), (3, 'A_4'), (4, 'A_5')) AS g (step, data)
LEFT JOIN lengths AS l USING (step, data)
GROUP BY step, data
ORDER BY step
