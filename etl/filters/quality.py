"""Quality signals of the Humpback / Gopher / C4 kind, as polars expressions over a batch of segments.

`quality_metrics` adds one column per signal (computed once, in the workers); `quality_reasons`
turns them into reasons with the thresholds of the run (applied at finalize, so that changing a
threshold does not re-extract anything).
"""

from __future__ import annotations

import polars as pl

from common.text import WORD
from etl.settings import QualitySettings

STOP_WORDS = ("the", "be", "to", "of", "and", "that", "have", "with")  # Gopher's list
# Every rule is a count of regex matches over the whole text (one pass, no per-word lists); the
# line rules use multiline mode, and each pattern matches a line at most once.
_ALPHA_WORD = r"\S*[\p{L}\p{N}]\S*"  # a word with a letter or digit: "(", "*/" and "│" are not
_STOP_WORD = r"(?i)\b(?:" + "|".join(STOP_WORDS) + r")\b"
_LINE = r"(?m)^[^\S\n]*\S[^\n]*"
# A bullet line of at most four words: a menu or link list. A list of steps or points is not noise.
_BULLET_LINE = r"(?m)^[^\S\n]*[-*•‣◦▪▫►●○■□➢➤→·][^\S\n]*(?:\S+[^\S\n]+){0,3}\S*[^\S\n]*$"
_ELLIPSIS_LINE = r"(?m)^[^\n]*(?:\.\.\.|…)[^\S\n]*$"
# Site furniture, by what a line is rather than what it mentions (a recipe says "cookie", steps start
# with "Next", a blog about JavaScript names it): a short line (at most five words) that is a navigation
# or sharing label, or a line of any length that says one of furniture's own phrases.
_FURNITURE_LABEL = (
    r"(?:home|menu|log ?in|log ?out|sign (?:in|up)|register|subscribe|share(?: this| on \w+)?|tweet|pin it"
    r"|email(?: this)?|print|read more|continue reading|skip to [\w ]+|next|previous|back to top|follow us"
    r"|related(?: posts| articles| stories)?|more from|recommended|trending|sponsored|promoted|by taboola"
    r"|most (?:popular|read|watched|shared|viewed)|you (?:may|might) also like|advertisement"
    r"|\d* ?comments?|post a comment|leave a (?:comment|reply)|reply)"
)
_FURNITURE_PHRASE = (
    r"(?:(?:we|this (?:site|website)) uses? cookies|accept (?:all )?cookies|cookie (?:policy|settings|"
    r"preferences|consent|notice)|privacy policy|terms (?:of|and) (?:use|service|conditions)"
    r"|all rights reserved|copyright (?:©|\(c\)|\d{4})|© ?\d{4}|lorem ipsum"
    r"|(?:enable|turn on) javascript|javascript (?:is )?(?:disabled|required|must be enabled)"
    r"|sign up for (?:our|the) newsletter|follow us on|share on (?:facebook|twitter|x|linkedin))"
)
# Matched line by line on lower-cased text: as one case-insensitive multiline alternation over the whole
# text, this rule took 30 times as long as the other rules together (0.64 s against 0.02 s for 1,476
# segments, on one core).
_LABEL_LINE = r"^[^\S\n]*(?:" + _FURNITURE_LABEL + r")\b[^\S\n]*(?:\S+[^\S\n]*){0,4}$"
# Words in lines of at most three words: a link list's share is near 1, prose's near 0, and a recipe's
# ingredient lines are few words beside its paragraphs.
_SHORT_LINE = r"(?m)^[^\S\n]*(?:\S+[^\S\n]+){0,2}\S+[^\S\n]*$"


def _ratio(numerator: pl.Expr, denominator: pl.Expr) -> pl.Expr:
    return pl.when(denominator > 0).then(numerator / denominator).otherwise(0.0).cast(pl.Float32)


def quality_metrics(segments: pl.DataFrame) -> pl.DataFrame:
    """Add n_chars, n_words, n_lines and the quality signal columns to a frame with header and text."""
    text = pl.col("text")
    # acronyms ("Use MAD", "FAQ") are not shouting: all-capital words of 2 to 4 letters are left out
    header = pl.col("header").str.replace_all(r"\b\p{Lu}{2,4}s?\b", "")
    header_letters = header.str.count_matches(r"\p{L}")
    frame = segments.with_columns(
        n_chars=text.str.len_chars().cast(pl.Int32),
        n_words=text.str.count_matches(WORD).cast(pl.Int32),
        n_lines=text.str.count_matches(_LINE).cast(pl.Int32),
    )
    n_words, n_lines = pl.col("n_words"), pl.col("n_lines")
    lines = text.str.split("\n").list.eval(pl.element().str.strip_chars()).list.drop_nulls()
    # Gopher's duplicate-line rule by characters: a code block's repeated "FROM" or "}" lines are few
    # characters, a repeated teaser or menu is many
    repeated_chars = lines.list.eval(
        pl.when(pl.element().is_first_distinct()).then(0).otherwise(pl.element().str.len_chars())
    ).list.sum()
    line_chars = lines.list.eval(pl.element().str.len_chars()).list.sum()
    boilerplate_lines = (
        text.str.to_lowercase()
        .str.split("\n")
        .list.eval(pl.element().str.contains(_LABEL_LINE) | pl.element().str.contains(_FURNITURE_PHRASE))
        .list.sum()
    )
    return frame.with_columns(
        header_upper_ratio=pl.when(header_letters > 0)
        .then(header.str.count_matches(r"\p{Lu}") / header_letters)
        .otherwise(None)
        .cast(pl.Float32),
        symbol_word_ratio=_ratio(text.str.count_matches(r"#|\.\.\.|…"), n_words),
        bullet_line_ratio=_ratio(text.str.count_matches(_BULLET_LINE), n_lines),
        ellipsis_line_ratio=_ratio(text.str.count_matches(_ELLIPSIS_LINE), n_lines),
        alpha_word_ratio=_ratio(text.str.count_matches(_ALPHA_WORD), n_words),
        mean_word_length=_ratio(pl.col("n_chars") - text.str.count_matches(r"\s"), n_words),
        stop_words=text.str.count_matches(_STOP_WORD).cast(pl.Int32),
        boilerplate_line_ratio=_ratio(boilerplate_lines, n_lines),
        duplicate_line_ratio=_ratio(repeated_chars, line_chars),
        short_line_word_ratio=_ratio(
            text.str.extract_all(_SHORT_LINE).list.join(" ").str.count_matches(WORD), n_words
        ),
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
        # a two-line segment with one "..." is a style, not a list of teasers
        "ellipsis_lines": (pl.col("ellipsis_line_ratio") > q.max_ellipsis_line_ratio)
        & (pl.col("ellipsis_line_ratio") * pl.col("n_lines") >= 1.5),
        "non_alpha_words": pl.col("alpha_word_ratio") < q.min_alpha_word_ratio,
        "mean_word_length": (pl.col("mean_word_length") < q.min_mean_word_length)
        | (pl.col("mean_word_length") > q.max_mean_word_length),
        # The stop-word list is English: the rule says nothing about other languages.
        "few_stop_words": (pl.col("stop_words") < q.min_stop_words) & (pl.col("lang") == "en"),
        "boilerplate_lines": pl.col("boilerplate_line_ratio") > q.max_boilerplate_line_ratio,
        "repeated_lines": pl.col("duplicate_line_ratio") > q.max_duplicate_line_ratio,
        "link_list": pl.col("short_line_word_ratio") > q.max_short_line_word_ratio,
    }
    return [pl.when(rule).then(pl.lit(reason)).otherwise(None) for reason, rule in rules.items()]
