-- Staging: the raw `eval_judgments` Parquet table as it is.
SELECT * FROM eval_judgments
