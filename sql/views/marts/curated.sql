-- curated(iteration, k): the curated set A_k of one iteration (see meets_threshold for k).
-- SELECT * FROM curated(0, 4)    SELECT count(*) FROM curated(0, 4.5) WHERE mode = 'direct'
CREATE OR REPLACE MACRO curated(iteration_, k) AS TABLE
SELECT *
FROM candidates
WHERE iteration = iteration_ AND meets_threshold(score, expected_score, k)
