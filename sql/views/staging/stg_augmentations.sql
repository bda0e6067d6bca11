-- Staging: augmentations, with the instruction's length in words.
SELECT *, word_count(instruction) AS instruction_words
FROM augmentations
