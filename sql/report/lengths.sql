-- Instruction and output length histograms of the seed, augmented and curated pairs.
-- Parameters: $iteration, $k, $mode.
SELECT data, field, bin, words_from, words_to, n, share
FROM length_histogram($iteration, $k, $mode)
