"""A labelled set of good and bad (instruction, output) pairs, for measuring a curator.

Positives are human pairs (seed pairs: OpenAssistant first turns with their rank-0 reply, dolly
records, Self-Instruct instances). Negatives are made from the same pairs by `negatives.make_negatives`
(benchmark family), plus, where OpenAssistant trees give them, the lowest-ranked reply to the same
prompt: the subtle case, a real answer that reviewers liked least.

Pairs are split in two by a hash of their instruction: `tune` for choices made while building a
curator, `report` for the figures. A negative is made only from pairs of its own split, so no
instruction or output of one split appears in the other.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from inference.curation.negatives import KINDS, make_negatives

SPLITS = ("tune", "report")
LOWER_RANKED = "lower_ranked"
POSITIVE = "positive"
COLUMNS = ("pair_id", "split", "kind", "label", "source_format", "instruction", "output")


def split_expr(instruction: pl.Expr) -> pl.Expr:
    return pl.when(instruction.hash(seed=11) % 2 == 0).then(pl.lit("tune")).otherwise(pl.lit("report"))


def labelled_pairs(
    positives: pl.DataFrame,
    boilerplate: Sequence[str],
    ranked: pl.DataFrame | None = None,
    *,
    kinds: Sequence[str] = KINDS,
    family: str = "benchmark",
) -> pl.DataFrame:
    """Positives (pair_id, instruction, output, source_format), the negatives made from them, and the
    lowest-ranked replies of `ranked` (pair_id, instruction, worst; see `load_oasst_ranked`).

    Columns: pair_id (the positive a row comes from), split, kind (`positive`, a negative kind, or
    `lower_ranked`), label (true for positives), source_format, instruction, output.
    """
    positives = (
        positives.select("pair_id", "instruction", "output", "source_format")
        .unique("pair_id", keep="first", maintain_order=True)
        .with_columns(split=split_expr(pl.col("instruction")))
    )
    frames = [positives.with_columns(kind=pl.lit(POSITIVE), label=pl.lit(True))]
    for split in SPLITS:
        part = positives.filter(pl.col("split") == split)
        made = make_negatives(part, family=family, kinds=kinds, boilerplate=boilerplate)
        frames.append(
            made.join(part.select("pair_id", "source_format", "split"), on="pair_id").with_columns(
                label=pl.lit(False)
            )
        )
    if ranked is not None and ranked.height:
        frames.append(
            ranked.select(
                "pair_id",
                "instruction",
                output=pl.col("worst"),
                source_format=pl.lit("oasst"),
                split=split_expr(pl.col("instruction")),
                kind=pl.lit(LOWER_RANKED),
                label=pl.lit(False),
            )
        )
    return pl.concat([f.select(COLUMNS) for f in frames], how="vertical_relaxed").sort(
        "split", "kind", "pair_id"
    )


def versus(frame: pl.DataFrame, kind: str) -> pl.DataFrame:
    """The rows that measure one kind of negative: those negatives and the positives they are weighed
    against (for `lower_ranked`, the rank-0 replies of OpenAssistant, their siblings)."""
    positives = pl.col("kind") == POSITIVE
    if kind == LOWER_RANKED:
        positives &= pl.col("source_format") == "oasst"
    return frame.filter(positives | (pl.col("kind") == kind))
