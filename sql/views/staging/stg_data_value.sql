-- Staging: the raw `data_value` Parquet table (benchmarks/data_value.py's figures) as it is.
SELECT * FROM data_value
