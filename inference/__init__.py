"""Model stages: a llama.cpp model writes the `instruction` column (self-augmentation) and the `score`
column (self-curation) of the warehouse."""
