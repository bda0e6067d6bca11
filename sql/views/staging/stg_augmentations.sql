-- Staging: the raw `augmentations` Parquet table as it is (instruction_words is written with each row).
SELECT * FROM augmentations
