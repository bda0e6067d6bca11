-- Staging: the raw `eval_runs` Parquet table as it is.
SELECT * FROM eval_runs
