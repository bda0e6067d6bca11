-- Staging: the raw `rejects` Parquet table as it is.
SELECT * FROM rejects
