-- The $top most common leading verbs of the seed, augmented and curated instructions.
-- Parameters: $iteration, $k, $mode, $top.
SELECT data, verb, n, share, rank
FROM leading_verbs($iteration, $k, $mode)
WHERE rank <= $top
ORDER BY data, rank
