-- Pairwise evaluations (humpback eval), newest run first: side A's record against side B, overall
-- (category 'all') and per category, with the bootstrap interval; at most $runs runs.
WITH runs AS (
    SELECT eval_id, label_a, label_b, judge, judge_source, prompts_source, max(created_at) AS created_at
    FROM stg_eval_runs GROUP BY ALL
),
newest AS (
    SELECT *, dense_rank() OVER (ORDER BY created_at DESC, eval_id) AS run FROM runs
)
SELECT
    n.run, n.eval_id, n.label_a, n.label_b, n.judge_source, n.prompts_source,
    s.category, s.prompts, s.wins, s.ties, s.losses,
    s.win_rate, s.ci_low, s.ci_high, s.unjudged
FROM newest AS n
JOIN eval_summary AS s USING (eval_id)
WHERE n.run <= $runs
ORDER BY n.run, s.category <> 'all', s.category
