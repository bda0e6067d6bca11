-- Staging: the raw `scores` Parquet table as it is.
SELECT * FROM scores
