-- eval_summary: per evaluation run, overall (category 'all') and per prompt category: wins, ties and
-- losses of side A, the win rate with ties counted as half, and its 95% confidence interval from 1,000
-- bootstrap resamples of the judged prompts (percentile method). The resamples are drawn by hashing
-- (run, category, replicate, draw), so the interval is the same on every read.
WITH judged AS (
    SELECT eval_id, category, prompt_id, outcome, points, preference
    FROM eval_outcomes WHERE outcome IS NOT NULL
),
grouped AS (
    SELECT eval_id, 'all' AS category, prompt_id, outcome, points, preference FROM judged
    UNION ALL
    SELECT * FROM judged WHERE category IS NOT NULL
),
numbered AS (
    SELECT
        *,
        row_number() OVER (PARTITION BY eval_id, category ORDER BY prompt_id) - 1 AS i,
        count(*) OVER (PARTITION BY eval_id, category) AS n
    FROM grouped
),
draws AS (
    SELECT s.eval_id, s.category, r.replicate, hash(s.eval_id, s.category, r.replicate, d.draw) % s.n AS i
    FROM (SELECT DISTINCT eval_id, category, n FROM numbered) AS s
    CROSS JOIN range(1000) AS r(replicate)
    CROSS JOIN LATERAL range(s.n) AS d(draw)
),
replicates AS (
    SELECT d.eval_id, d.category, d.replicate, avg(n.points) AS win_rate
    FROM draws AS d JOIN numbered AS n USING (eval_id, category, i)
    GROUP BY ALL
),
intervals AS (
    SELECT
        eval_id,
        category,
        quantile_cont(win_rate, 0.025) AS ci_low,
        quantile_cont(win_rate, 0.975) AS ci_high
    FROM replicates GROUP BY ALL
),
totals AS (
    SELECT
        eval_id,
        category,
        count(*) AS prompts,
        count(*) FILTER (outcome = 'win') AS wins,
        count(*) FILTER (outcome = 'tie') AS ties,
        count(*) FILTER (outcome = 'loss') AS losses,
        avg(points) AS win_rate,
        avg(preference) AS mean_preference
    FROM grouped GROUP BY ALL
),
pending AS (
    SELECT eval_id, count(*) FILTER (outcome IS NULL) AS unjudged FROM eval_outcomes GROUP BY ALL
)
SELECT
    t.eval_id,
    t.category,
    t.prompts,
    t.wins,
    t.ties,
    t.losses,
    t.win_rate,
    i.ci_low,
    i.ci_high,
    t.mean_preference,
    CASE WHEN t.category = 'all' THEN p.unjudged ELSE 0 END AS unjudged
FROM totals AS t
JOIN intervals AS i USING (eval_id, category)
JOIN pending AS p USING (eval_id)
