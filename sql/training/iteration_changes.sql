-- How iteration $t + 1's rating changed A_k from iteration $t's: pairs whose score or membership changed,
-- pairs that joined the set and pairs that left it. Parameters: $t, $k, $mode.
SELECT
    count(*) AS changed,
    count(*) FILTER (WHERE curated_after AND NOT curated_before) AS joined,
    count(*) FILTER (WHERE curated_before AND NOT curated_after) AS left_set
FROM iteration_diff($t, $k)
WHERE mode = $mode
