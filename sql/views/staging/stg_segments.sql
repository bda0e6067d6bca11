-- Staging: the raw `segments` Parquet table as it is.
SELECT * FROM segments
