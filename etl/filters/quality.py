"""Quality signals of the Humpback / Gopher / C4 kind, as polars expressions over a batch of segments.

`quality_metrics` adds one column per signal (computed once, in the workers); `quality_reasons`
turns them into reasons with the thresholds of the run (applied at finalize, so that changing a
threshold does not re-extract anything).
"""

from __future__ import annotations

import polars as pl

from etl.settings import QualitySettings

STOP_WORDS = ("the", "be", "to", "of", "and", "that", "have", "with")  # Gopher's list
# Every rule is a count of regex matches over the whole text (one pass, no per-word lists); the
# line rules use multiline mode, and each pattern matches a line at most once.
WORD = r"\S+"  # a word: a run of non-space characters; every word count uses it
_ALPHA_WORD = r"\S*\p{L}\S*"
_STOP_WORD = r"(?i)\b(?:" + "|".join(STOP_WORDS) + r")\b"
_LINE = r"(?m)^[^\S\n]*\S[^\n]*"
_BULLET_LINE = r"(?m)^[^\S\n]*[-*•‣◦▪▫►●○■□➢➤→·][^\n]*"
_ELLIPSIS_LINE = r"(?m)^[^\n]*(?:\.\.\.|…)[^\S\n]*$"
# Lines that are site furniture rather than content (C4's rules, plus navigation and sharing).
_BOILERPLATE_LINE = (
    r"(?im)^(?:[^\n]*(?:javascript|cookie|privacy policy|terms of (?:use|service)|lorem ipsum"
    r"|all rights reserved|copyright|©|\S+\s*\|\s*\S+\s*\|\s*\S+)"
    r"|[^\S\n]*(?:home|menu|login|log in|sign in|sign up|subscribe|share|tweet|read more|skip to"
    r"|next|previous|follow us)\b)[^\n]*"
)


def _ratio(numerator: pl.Expr, denominator: pl.Expr) -> pl.Expr:
    return pl.when(denominator > 0).then(numerator / denominator).otherwise(0.0).cast(pl.Float32)


def quality_metrics(segments: pl.DataFrame) -> pl.DataFrame:
    """Add n_chars, n_words, n_lines and the quality signal columns to a frame with header and text."""
    text = pl.col("text")
    header_letters = pl.col("header").str.count_matches(r"\p{L}")
    frame = segments.with_columns(
        n_chars=text.str.len_chars().cast(pl.Int32),
        n_words=text.str.count_matches(WORD).cast(pl.Int32),
        n_lines=text.str.count_matches(_LINE).cast(pl.Int32),
    )
    n_words, n_lines = pl.col("n_words"), pl.col("n_lines")
    distinct_lines = (
        text.str.split("\n")
        .list.eval(pl.element().str.strip_chars())
        .list.drop_nulls()
        .list.eval(pl.element().filter(pl.element() != ""))
        .list.n_unique()
    )
    return frame.with_columns(
        header_upper_ratio=pl.when(header_letters > 0)
        .then(pl.col("header").str.count_matches(r"\p{Lu}") / header_letters)
        .otherwise(None)
        .cast(pl.Float32),
        symbol_word_ratio=_ratio(text.str.count_matches(r"#|\.\.\.|…"), n_words),
        bullet_line_ratio=_ratio(text.str.count_matches(_BULLET_LINE), n_lines),
        ellipsis_line_ratio=_ratio(text.str.count_matches(_ELLIPSIS_LINE), n_lines),
        alpha_word_ratio=_ratio(text.str.count_matches(_ALPHA_WORD), n_words),
        mean_word_length=_ratio(pl.col("n_chars") - text.str.count_matches(r"\s"), n_words),
        stop_words=text.str.count_matches(_STOP_WORD).cast(pl.Int32),
        boilerplate_line_ratio=_ratio(text.str.count_matches(_BOILERPLATE_LINE), n_lines),
        duplicate_line_ratio=_ratio(n_lines - distinct_lines, n_lines),
    )


def quality_reasons(q: QualitySettings) -> list[pl.Expr]:
    """One expression per rule: the reason as a string, or null when the rule passes."""
    rules = {
        "too_short_chars": pl.col("n_chars") < q.min_chars,
        "too_long_chars": pl.col("n_chars") > q.max_chars,
        "too_few_words": pl.col("n_words") < q.min_words,
        "too_many_words": pl.col("n_words") > q.max_words,
        "header_capitals": pl.col("header_upper_ratio").fill_null(0.0) > q.max_header_upper_ratio,
        "symbol_ratio": pl.col("symbol_word_ratio") > q.max_symbol_word_ratio,
        "bullet_lines": pl.col("bullet_line_ratio") > q.max_bullet_line_ratio,
        "ellipsis_lines": pl.col("ellipsis_line_ratio") > q.max_ellipsis_line_ratio,
        "non_alpha_words": pl.col("alpha_word_ratio") < q.min_alpha_word_ratio,
        "mean_word_length": (pl.col("mean_word_length") < q.min_mean_word_length)
        | (pl.col("mean_word_length") > q.max_mean_word_length),
        # The stop-word list is English: the rule says nothing about other languages.
        "few_stop_words": (pl.col("stop_words") < q.min_stop_words) & (pl.col("lang") == "en"),
        "boilerplate_lines": pl.col("boilerplate_line_ratio") > q.max_boilerplate_line_ratio,
        "repeated_lines": pl.col("duplicate_line_ratio") > q.max_duplicate_line_ratio,
    }
    return [pl.when(rule).then(pl.lit(reason)).otherwise(None) for reason, rule in rules.items()]
