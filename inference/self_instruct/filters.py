"""Self-Instruct's heuristic filters on new instructions, as one polars expression: the first reason a
row fails, or "ok". The ROUGE-L novelty filter (novelty.py) runs after these, on the rows left "ok".
"""

from __future__ import annotations

import string

import polars as pl

MIN_WORDS, MAX_WORDS = 3, 150
# What a text-only model cannot do: see or make images, graphs, maps or files, or go somewhere.
UNSUPPORTED = ("image", "images", "graph", "graphs", "picture", "pictures", "file", "files", "map", "maps")
UNSUPPORTED_PHRASES = ("draw", "plot", "go to")
_UNSUPPORTED = r"(?i)\b(" + "|".join([*UNSUPPORTED, *UNSUPPORTED_PHRASES]).replace(" ", r"\s+") + r")\b"

REASONS = ("unfinished", "empty", "too_short", "too_long", "unsupported", "bad_start")


def word_count(instruction: pl.Expr) -> pl.Expr:
    return instruction.str.count_matches(r"\S+").cast(pl.Int32)


def instruction_status(instruction: pl.Expr, complete: pl.Expr) -> pl.Expr:
    """The first heuristic an instruction fails, in the order of REASONS, or "ok"."""
    words = word_count(instruction)
    first = instruction.str.slice(0, 1)
    return (
        pl.when(~complete)
        .then(pl.lit("unfinished"))  # the token limit cut it: its end is missing
        .when(instruction.str.len_chars() == 0)
        .then(pl.lit("empty"))
        .when(words < MIN_WORDS)
        .then(pl.lit("too_short"))
        .when(words > MAX_WORDS)
        .then(pl.lit("too_long"))
        .when(instruction.str.contains(_UNSUPPORTED))
        .then(pl.lit("unsupported"))
        .when(first.is_in(list(string.punctuation)) | ~first.str.contains(r"^[\x00-\x7f]"))
        .then(pl.lit("bad_start"))  # punctuation or a non-ASCII character first
        .otherwise(pl.lit("ok"))
    )
