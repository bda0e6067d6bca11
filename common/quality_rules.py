"""The quality rules, each declared once: its reason, the signal column it computes (name, Arrow type,
Polars expression), its settings with their defaults, and the test that fails a segment.

Everything else derives from `RULES`: the signal columns of the segments tables
(`warehouse/schemas.py`), the `quality.*` settings (`etl/settings.py`), the columns finalize reads
(`etl/finalize.py`), the staging fingerprint, and the reasons (`etl/filters/quality.py`). A new rule is
one new entry here.

Signals are computed once per segment, in the ETL's workers, from `header` and `text` and the counts
`n_chars`, `n_words` and `n_lines`; thresholds apply at finalize, so changing one re-extracts nothing.
Every signal is a count of regex matches over the whole text (one pass, no per-word lists); the line
patterns use multiline mode, and each matches a line at most once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import polars as pl
import pyarrow as pa

from common.text import WORD

STOP_WORDS = ("the", "be", "to", "of", "and", "that", "have", "with")  # Gopher's list
LINE = r"(?m)^[^\S\n]*\S[^\n]*"
_ALPHA_WORD = r"\S*[\p{L}\p{N}]\S*"  # a word with a letter or digit: "(", "*/" and "│" are not
_STOP_WORD = r"(?i)\b(?:" + "|".join(STOP_WORDS) + r")\b"
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

_text = pl.col("text")
_n_words, _n_lines = pl.col("n_words"), pl.col("n_lines")


def _ratio(numerator: pl.Expr, denominator: pl.Expr) -> pl.Expr:
    return pl.when(denominator > 0).then(numerator / denominator).otherwise(0.0).cast(pl.Float32)


def _header_upper_ratio() -> pl.Expr:
    # acronyms ("Use MAD", "FAQ") are not shouting: all-capital words of 2 to 4 letters are left out
    header = pl.col("header").str.replace_all(r"\b\p{Lu}{2,4}s?\b", "")
    letters = header.str.count_matches(r"\p{L}")
    return (
        pl.when(letters > 0)
        .then(header.str.count_matches(r"\p{Lu}") / letters)
        .otherwise(None)
        .cast(pl.Float32)
    )


def _lines() -> pl.Expr:
    return _text.str.split("\n").list.eval(pl.element().str.strip_chars()).list.drop_nulls()


def _duplicate_line_ratio() -> pl.Expr:
    # Gopher's duplicate-line rule by characters: a code block's repeated "FROM" or "}" lines are few
    # characters, a repeated teaser or menu is many
    repeated = _lines().list.eval(
        pl.when(pl.element().is_first_distinct()).then(0).otherwise(pl.element().str.len_chars())
    )
    return _ratio(repeated.list.sum(), _lines().list.eval(pl.element().str.len_chars()).list.sum())


def _boilerplate_lines() -> pl.Expr:
    return (
        _text.str.to_lowercase()
        .str.split("\n")
        .list.eval(pl.element().str.contains(_LABEL_LINE) | pl.element().str.contains(_FURNITURE_PHRASE))
        .list.sum()
    )


@dataclass(frozen=True)
class QualityRule:
    """One rule. `settings` maps each `quality.<name>` setting to its default; `fails(q)` is true for a
    segment the rule drops, `q` holding the run's settings. `column` is the signal the rule adds to the
    segments tables (None for a rule on the counts every segment has)."""

    reason: str
    settings: dict[str, int | float]
    fails: Callable[[Any], pl.Expr]
    column: str | None = None
    dtype: pa.DataType = field(default_factory=pa.float32)
    signal: pl.Expr | None = None
    doc: str = ""


RULES: tuple[QualityRule, ...] = (
    QualityRule("too_short_chars", {"min_chars": 200}, lambda q: pl.col("n_chars") < q.min_chars),
    QualityRule("too_long_chars", {"max_chars": 20_000}, lambda q: pl.col("n_chars") > q.max_chars),
    QualityRule("too_few_words", {"min_words": 30}, lambda q: _n_words < q.min_words),
    QualityRule("too_many_words", {"max_words": 3_000}, lambda q: _n_words > q.max_words),
    QualityRule(
        "header_capitals",
        {"max_header_upper_ratio": 0.6},  # Humpback: share of capital letters among the header's letters
        lambda q: pl.col("header_upper_ratio").fill_null(0.0) > q.max_header_upper_ratio,
        "header_upper_ratio",
        signal=_header_upper_ratio(),
        doc="capitals among the header's letters (null: no letters)",
    ),
    QualityRule(
        "symbol_ratio",
        {"max_symbol_word_ratio": 0.1},  # Gopher: ('#' + ellipses) per word
        lambda q: pl.col("symbol_word_ratio") > q.max_symbol_word_ratio,
        "symbol_word_ratio",
        signal=_ratio(_text.str.count_matches(r"#|\.\.\.|…"), _n_words),
    ),
    QualityRule(
        "bullet_lines",
        {"max_bullet_line_ratio": 0.9},  # Gopher: lines starting with a bullet (here: of at most 4 words)
        lambda q: pl.col("bullet_line_ratio") > q.max_bullet_line_ratio,
        "bullet_line_ratio",
        signal=_ratio(_text.str.count_matches(_BULLET_LINE), _n_lines),
    ),
    QualityRule(
        "ellipsis_lines",
        {"max_ellipsis_line_ratio": 0.3},  # Gopher: lines ending with an ellipsis (two at least)
        # a two-line segment with one "..." is a style, not a list of teasers
        lambda q: (
            (pl.col("ellipsis_line_ratio") > q.max_ellipsis_line_ratio)
            & (pl.col("ellipsis_line_ratio") * _n_lines >= 1.5)
        ),
        "ellipsis_line_ratio",
        signal=_ratio(_text.str.count_matches(_ELLIPSIS_LINE), _n_lines),
    ),
    QualityRule(
        "non_alpha_words",
        # Gopher (0.8, words with a letter); here a letter or digit, and lower: a segment may hold a code
        # block, whose brackets and operators are words without either (readability's pages: 0.74 and up)
        {"min_alpha_word_ratio": 0.7},
        lambda q: pl.col("alpha_word_ratio") < q.min_alpha_word_ratio,
        "alpha_word_ratio",
        signal=_ratio(_text.str.count_matches(_ALPHA_WORD), _n_words),
    ),
    QualityRule(
        "mean_word_length",
        {"min_mean_word_length": 3.0, "max_mean_word_length": 10.0},  # Gopher
        lambda q: (
            (pl.col("mean_word_length") < q.min_mean_word_length)
            | (pl.col("mean_word_length") > q.max_mean_word_length)
        ),
        "mean_word_length",
        signal=_ratio(pl.col("n_chars") - _text.str.count_matches(r"\s"), _n_words),
    ),
    QualityRule(
        "few_stop_words",
        {"min_stop_words": 2},  # Gopher: at least this many of the, be, to, of, and, that, have, with
        # The stop-word list is English: the rule says nothing about other languages.
        lambda q: (pl.col("stop_words") < q.min_stop_words) & (pl.col("lang") == "en"),
        "stop_words",
        pa.int32(),
        _text.str.count_matches(_STOP_WORD).cast(pl.Int32),
    ),
    QualityRule(
        "boilerplate_lines",
        {"max_boilerplate_line_ratio": 0.3},  # C4-style: navigation labels, cookie and copyright phrases
        lambda q: pl.col("boilerplate_line_ratio") > q.max_boilerplate_line_ratio,
        "boilerplate_line_ratio",
        signal=_ratio(_boilerplate_lines(), _n_lines),
    ),
    QualityRule(
        "repeated_lines",
        {"max_duplicate_line_ratio": 0.2},  # Gopher: characters in lines repeated within the segment
        lambda q: pl.col("duplicate_line_ratio") > q.max_duplicate_line_ratio,
        "duplicate_line_ratio",
        signal=_duplicate_line_ratio(),
        doc="characters in repeated lines, of all lines' characters",
    ),
    QualityRule(
        "link_list",
        {"max_short_line_word_ratio": 0.5},  # words in lines of at most 3 words: a link list
        lambda q: pl.col("short_line_word_ratio") > q.max_short_line_word_ratio,
        "short_line_word_ratio",
        signal=_ratio(_text.str.extract_all(_SHORT_LINE).list.join(" ").str.count_matches(WORD), _n_words),
        doc="words in lines of at most 3 words",
    ),
)

SIGNAL_RULES = tuple(rule for rule in RULES if rule.column is not None)
SIGNAL_COLUMNS = [rule.column for rule in SIGNAL_RULES]


def signal_fields() -> list[pa.Field]:
    """The signal columns of the segments tables, in rule order."""
    return [pa.field(rule.column, rule.dtype) for rule in SIGNAL_RULES]


def settings_defaults() -> dict[str, int | float]:
    """Every `quality.*` setting and its default, in rule order."""
    return {name: default for rule in RULES for name, default in rule.settings.items()}
