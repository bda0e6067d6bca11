-- Score shares per iteration, scoring model and mode, across every iteration.
SELECT iteration, model, mode, score, sum(n) AS n,
       sum(n) / sum(sum(n)) OVER (PARTITION BY iteration, model, mode) AS share
FROM score_histogram
GROUP BY iteration, model, mode, score
ORDER BY mode, iteration, model, score
