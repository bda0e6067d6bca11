-- word_count(text): runs of non-space characters, as the ETL counts a segment's n_words (null for null).
CREATE OR REPLACE MACRO word_count(text) AS len(regexp_extract_all(text, '\S+'))
