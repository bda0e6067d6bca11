-- Staging: the raw `tasks` Parquet table as it is.
SELECT * FROM tasks
