-- The newest data-value run (benchmarks/data_value.py): each variant on the reference set's report half,
-- against the seeds-only models and the same-size random sample, with the judge's win rate.
WITH newest AS (
    SELECT run_id FROM stg_data_value ORDER BY created_at DESC LIMIT 1
)
SELECT
    variant, budget, training_seeds, steps, train_rows, augmented_rows, pairs, mean,
    vs_seeds, vs_seeds_low, vs_seeds_high, vs_random, vs_random_low, vs_random_high,
    judge_win_rate, judge_ci_low, judge_ci_high, judge_prompts
FROM stg_data_value
WHERE run_id = (SELECT run_id FROM newest) AND half = 'report'
ORDER BY list_position(['seeds', 'curated', 'random', 'all', 'curated-untagged'], variant), variant
