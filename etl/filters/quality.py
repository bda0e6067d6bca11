"""Quality signals of the Humpback / Gopher / C4 kind, as polars expressions over a batch of segments.

The rules themselves are declared once, in `common/quality_rules.py`. `quality_metrics` adds one
column per signal (computed once, in the workers); `quality_reasons` turns them into reasons with the
thresholds of the run (applied at finalize, so that changing a threshold does not re-extract anything).
"""

from __future__ import annotations

import polars as pl

from common.quality_rules import LINE, RULES, SIGNAL_RULES
from common.text import WORD
from etl.settings import QualitySettings


def quality_metrics(segments: pl.DataFrame) -> pl.DataFrame:
    """Add n_chars, n_words, n_lines and the quality signal columns to a frame with header and text."""
    text = pl.col("text")
    frame = segments.with_columns(
        n_chars=text.str.len_chars().cast(pl.Int32),
        n_words=text.str.count_matches(WORD).cast(pl.Int32),
        n_lines=text.str.count_matches(LINE).cast(pl.Int32),
    )
    return frame.with_columns(**{rule.column: rule.signal for rule in SIGNAL_RULES})


def quality_reasons(q: QualitySettings) -> list[pl.Expr]:
    """One expression per rule: the reason as a string, or null when the rule passes."""
    return [pl.when(rule.fails(q)).then(pl.lit(rule.reason)).otherwise(None) for rule in RULES]
