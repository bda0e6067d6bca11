"""The coverage choice signal (inference/coverage.py): which words count, and how they are compared."""

from __future__ import annotations

import polars as pl
import pytest

from inference.coverage import coverage, coverage_expr


def test_coverage_counts_the_content_words_the_text_mentions() -> None:
    text = "Freezing soup: pour it into freezer bags, lay them flat and label each bag with the date."
    assert coverage(["How do I freeze soup in bags?"], [text]) == [1.0], "freeze meets Freezing, bags bag"
    # stop words ("how", "do", "I", "keep", "in", "with") are not asked for; of "grocery", "shelves",
    # "stocked" and "soup", only "soup" is there
    assert coverage(["How do I keep grocery shelves stocked with soup?"], [text]) == [pytest.approx(1 / 4)]
    assert coverage(["What is it about?"], [text]) == [0.0], "naming nothing, it covers nothing"
    assert coverage(["SOUP BAGS?"], [text]) == [1.0], "case does not matter"
    # a contraction's tail is no word: the "s" of "what's" would meet any possessive in the text
    assert coverage(["What's the bag's date?", "Don't I label soup?"], [text, text]) == [1.0, 1.0]
    assert coverage(["What's Tom's recipe?"], ["Tom's soup: the recipe's steps."]) == [1.0]
    assert coverage(["What's Tom's recipe?"], ["It is soup."]) == [0.0]


def test_coverage_is_a_polars_expression_over_columns() -> None:
    frame = pl.DataFrame(
        {
            "ask": ["Which Python version added f-strings?", None],
            "segment": ["Python 3.6 added f-strings.", "x"],
        }
    )
    found = frame.select(coverage_expr("ask", "segment"))["coverage"].to_list()
    # "python", "versi"(on), "added", "f", "strin"(gs): "version" is missing
    assert found == [pytest.approx(4 / 5), 0.0]
