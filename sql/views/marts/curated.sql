-- curated(iteration, k): the curated set A_k of one iteration. A whole k keeps score >= k; a fractional
-- k (4.5) keeps expected_score >= k, the paper's threshold on an averaged score.
-- SELECT * FROM curated(0, 4)    SELECT count(*) FROM curated(0, 4.5) WHERE mode = 'direct'
CREATE OR REPLACE MACRO curated(iteration_, k) AS TABLE
SELECT *
FROM candidates
WHERE iteration = iteration_
  AND CASE WHEN k = floor(k) THEN score >= k ELSE expected_score >= k END
