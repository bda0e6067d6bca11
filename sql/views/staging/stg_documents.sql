-- Staging: the raw `documents` Parquet table as it is.
SELECT * FROM documents
