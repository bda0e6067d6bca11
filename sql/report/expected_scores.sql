-- Expected-score shares per iteration, scoring model and mode, in quarter-point bins.
SELECT iteration, model, mode, bin_from, sum(n) AS n,
       sum(n) / sum(sum(n)) OVER (PARTITION BY iteration, model, mode) AS share
FROM expected_score_histogram
GROUP BY iteration, model, mode, bin_from
ORDER BY mode, iteration, model, bin_from
