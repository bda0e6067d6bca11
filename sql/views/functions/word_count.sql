-- word_count(text): whitespace-separated words, as the ETL counts a segment's n_words.
CREATE OR REPLACE MACRO word_count(text) AS len(regexp_extract_all(coalesce(text, ''), '\S+'))
