-- meets_threshold(score, expected_score, k): membership of the curated set A_k. A whole k keeps
-- score >= k; a fractional k (4.5) keeps expected_score >= k, the paper's threshold on an averaged score.
CREATE OR REPLACE MACRO meets_threshold(score, expected_score, k) AS
    CASE WHEN k = floor(k) THEN score >= k ELSE expected_score >= k END
