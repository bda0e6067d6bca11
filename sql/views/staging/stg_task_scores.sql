-- Staging: the raw `task_scores` Parquet table as it is.
SELECT * FROM task_scores
