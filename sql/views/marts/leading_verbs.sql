-- leading_verbs(iteration, k, mode): the most common first words of the instructions of the seed,
-- augmented and curated pairs (see pairs), after courtesy openings ("please", "can you", "I want you to")
-- are dropped: the verb of an imperative ("write", "explain"), or the question word of a question.
CREATE OR REPLACE MACRO leading_verbs(iteration_, k, mode_) AS TABLE
WITH firsts AS (
    SELECT
        data,
        regexp_extract(
            regexp_replace(
                lower(trim(instruction)),
                '^(?:(?:please|kindly|now|so|ok|okay|hey|hi)\b[\s,!]*|(?:can|could|would|will) you (?:please )?|i (?:want|need|would like) you to )+',
                ''
            ),
            '^[a-z]+'
        ) AS word
    FROM pairs(iteration_, k, mode_)
)
SELECT
    data,
    coalesce(nullif(word, ''), '(none)') AS verb,
    count(*) AS n,
    count(*) / sum(count(*)) OVER (PARTITION BY data) AS share,
    row_number() OVER (PARTITION BY data ORDER BY count(*) DESC, verb) AS rank
FROM firsts
GROUP BY data, verb
ORDER BY data, rank
