-- data_statistics(iteration, mode): the paper's data statistics table (its Table 2). For the seed set,
-- all augmented pairs, A_4 and A_5: the count and the mean and standard deviation of instruction and
-- output lengths in words.
CREATE OR REPLACE MACRO data_statistics(iteration_, mode_) AS TABLE
WITH lengths AS (
    SELECT CASE data WHEN 'curated' THEN 'A_4' ELSE data END AS data, instruction_words, output_words
    FROM pairs(iteration_, 4, mode_)
    UNION ALL
    SELECT 'A_5', instruction_words, output_words FROM pairs(iteration_, 5, mode_) WHERE data = 'curated'
)
SELECT
    g.data,
    count(l.data) AS n,
    round(avg(instruction_words), 1) AS instruction_words_mean,
    round(stddev_samp(instruction_words), 1) AS instruction_words_std,
    round(avg(output_words), 1) AS output_words_mean,
    round(stddev_samp(output_words), 1) AS output_words_std
FROM (VALUES (1, 'seed'), (2, 'augmented'), (3, 'A_4'), (4, 'A_5')) AS g (step, data)
LEFT JOIN lengths AS l USING (data)
GROUP BY g.step, g.data
ORDER BY g.step
