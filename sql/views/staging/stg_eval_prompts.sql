-- Staging: the raw `eval_prompts` Parquet table as it is.
SELECT * FROM eval_prompts
