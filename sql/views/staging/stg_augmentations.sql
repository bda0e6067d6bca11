-- Staging: augmentations, with the instruction's length in words.
SELECT
    *,
    len(regexp_split_to_array(trim(instruction), '\s+')) AS instruction_words
FROM augmentations
