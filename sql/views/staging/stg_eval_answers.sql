-- Staging: the raw `eval_answers` Parquet table as it is.
SELECT * FROM eval_answers
