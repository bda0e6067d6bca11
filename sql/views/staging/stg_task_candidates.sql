-- Staging: the raw `task_candidates` Parquet table as it is.
SELECT * FROM task_candidates
