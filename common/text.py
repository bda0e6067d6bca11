"""Text conventions every stage shares."""

WORD = r"\S+"  # a word: a run of non-space characters; every word count uses it
