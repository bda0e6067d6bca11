-- length_histogram(iteration, k, mode): how long instructions and outputs are, in words, for the seed,
-- augmented and curated pairs (see pairs). Bins are a quarter octave wide: bin b holds lengths in
-- [2^(b/4), 2^((b+1)/4)), so one chart spans a one-word instruction and a 2,000-word segment.
CREATE OR REPLACE MACRO length_histogram(iteration_, k, mode_) AS TABLE
WITH lengths AS (
    UNPIVOT (SELECT data, instruction_words AS instruction, output_words AS output FROM pairs(iteration_, k, mode_))
    ON instruction, output INTO NAME field VALUE words
),
binned AS (
    SELECT data, field, floor(log2(greatest(words, 1)) * 4)::INTEGER AS bin FROM lengths
)
SELECT
    data,
    field,
    bin,
    pow(2, bin / 4) AS words_from,
    pow(2, (bin + 1) / 4) AS words_to,
    count(*) AS n,
    count(*) / sum(count(*)) OVER (PARTITION BY data, field) AS share
FROM binned
GROUP BY data, field, bin
ORDER BY data, field, bin
