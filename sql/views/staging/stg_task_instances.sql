-- Staging: the raw `task_instances` Parquet table as it is.
SELECT * FROM task_instances
