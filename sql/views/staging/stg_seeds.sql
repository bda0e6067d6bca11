-- Staging: the raw `seeds` Parquet table as it is.
SELECT * FROM seeds
