"""What the ETL and the model stages both need, below both: Ray's start-up, the word pattern, the JSONL
reader. It imports no other package of the project."""
