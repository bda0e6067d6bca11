"""How much of what an instruction names its segment mentions: a choice signal that needs no model.

The backward model's wrong draws are mostly on topic but ask for something the text does not give
(tests/data/answered_pairs, `wrong-ask`), and such an ask tends to name things the text never mentions:
"How do I keep my grocery store shelves stocked?" over a news item on price rises. Coverage is the
share of an instruction's content words (not English stop words, compared by their first letters so
that "freeze" meets "freezing") that occur anywhere in its segment. Read against the labelled pairs'
tune half, it separates answered from unanswered candidates better than the likelihood gain does
(AUROC 0.73 against 0.69), and their sum better than either (0.74; benchmarks/augmentation_answered.py).
"""

from __future__ import annotations

import polars as pl
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

STEM_CHARS = 5  # words compared by their first 5 letters: a crude stemmer, no dictionary to ship
_WORDS = r"[a-z0-9]+"
_STOP_WORDS = sorted(ENGLISH_STOP_WORDS)


def _stems(column: pl.Expr, drop_stop_words: bool) -> pl.Expr:
    words = column.str.to_lowercase().str.extract_all(_WORDS)
    element = pl.element()
    if drop_stop_words:
        words = words.list.eval(element.filter(~element.is_in(_STOP_WORDS)))
    return words.list.eval(pl.element().str.slice(0, STEM_CHARS)).list.unique()


def coverage_expr(instruction: str = "instruction", text: str = "text") -> pl.Expr:
    """The share (0-1) of the instruction's distinct content-word stems found in the text; 0 for an
    instruction without content words ("What is it?" names nothing the text could answer)."""
    asked = _stems(pl.col(instruction), drop_stop_words=True)
    found = asked.list.set_intersection(_stems(pl.col(text), drop_stop_words=False)).list.len()
    return (found / asked.list.len()).fill_nan(0.0).fill_null(0.0).alias("coverage")


def coverage(instructions: list[str], texts: list[str]) -> list[float]:
    """`coverage_expr` of each (instruction, text) pair."""
    frame = pl.DataFrame(
        {"instruction": instructions, "text": texts}, schema={"instruction": pl.String, "text": pl.String}
    )
    return frame.select(coverage_expr())["coverage"].to_list()
