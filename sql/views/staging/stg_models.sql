-- Staging: the raw `models` Parquet table (trained models, written by humpback_train) as it is.
SELECT * FROM models
