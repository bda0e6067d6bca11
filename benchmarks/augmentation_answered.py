"""Benchmark: are the engine's instructions answered by their segments? Read one by one, not by proxy.

`tests/data/answered_pairs/labels.jsonl` holds (instruction, segment) pairs that the default pipeline
wrote for segments of the English pages under ../shared/data, each read and labelled by the rule in
`tests/data/answered_pairs/RULE.md` (good, or bad: wrong-ask, not-request, copy, not-answer). For the
instructions of an augmentation run in a warehouse, this prints per half (tune, report; by page):

* `good`: the share of its labelled pairs that are good, and each failure kind's share;
* `good per 100 kept`: good pairs per 100 kept segments of those pages, so that writing no pair (a
  segment may get none: `not_answered` counts those the drawing's floor left out) cannot pass for
  quality;
* how many pairs are not labelled yet: a pair's label belongs to its exact instruction and segment, so
  a changed pipeline writes new pairs to read. `--unlabelled FILE` writes them, with their segments, for
  reading by the same rule.

Segments are matched by `text_hash`, the hash of their normalised text, so a warehouse built elsewhere
from the same pages matches. Targets (issue 43, report half): at least 60% good, and at least 1.5 times
the 23.3 good pairs per 100 kept segments the pipeline wrote before it (report half).

    .venv/bin/python -m benchmarks.augmentation_answered --warehouse DIR [--unlabelled FILE]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import polars as pl
import xxhash

from benchmarks.harness import ROOT
from warehouse.connect import connect, query

LABELS = ROOT / "tests" / "data" / "answered_pairs" / "labels.jsonl"
REASONS = ("good", "wrong-ask", "not-request", "copy", "not-answer")
TARGET_GOOD, BEFORE_PER_100, TARGET_GAIN = 0.60, 23.3, 1.5  # before: the report half of labels.jsonl


def page_name(source: str) -> str:
    """The page's file name, from a segment's source (`path`, `path@offset` or `path:line`)."""
    return Path(source.split("@")[0].split(":")[0]).name


def page_half(source: str) -> str:
    """tune or report, by a hash of the page's file name (every segment of a page on the same side)."""
    return "tune" if xxhash.xxh3_64_intdigest(page_name(source).encode()) % 2 == 0 else "report"


def page_expr(source: str = "source") -> pl.Expr:
    """`page_name` as an expression: the file name, without a `@offset` or `:line` suffix."""
    return pl.col(source).str.replace(r"[@:][^/]*$", "").str.extract(r"([^/]+)$").alias("page")


def read_labels(path: Path = LABELS) -> pl.DataFrame:
    labels = pl.read_ndjson(path).select("text_hash", "source", "half", "instruction", "label", "reason")
    return labels.with_columns(pl.col("text_hash").cast(pl.UInt64), page_expr())


def run_pairs(
    warehouse: Path, labels: pl.DataFrame, prompt_version: str | None = None
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The run's pairs on the labelled pages (one per augmented segment: its instruction, null when it
    got none) and their kept segments, each with its page's half as the labels give it. Without
    `prompt_version`, the one that wrote the most rows."""
    con = connect(warehouse)
    kept = query(con, "select segment_id, text_hash, source, header_path, text from segments where keep")
    halves = labels.select("page", "half").unique()
    kept = kept.with_columns(page_expr()).join(halves, on="page")
    augmented = query(
        con,
        "select segment_id, instruction, status, prompt_version, iteration from augmentations"
        " where iteration = (select max(iteration) from augmentations)",
    )
    if prompt_version is None:
        prompt_version = augmented["prompt_version"].mode().sort()[0]
    pairs = augmented.filter(pl.col("prompt_version") == prompt_version).join(kept, on="segment_id")
    return pairs, kept


def figures(pairs: pl.DataFrame, kept: pl.DataFrame, labels: pl.DataFrame) -> pl.DataFrame:
    """Per half: kept segments, pairs written, labelled, good share, each reason's share, good per 100."""
    verdicts = labels.select("text_hash", "instruction", "label", "reason")
    labelled = pairs.filter(pl.col("instruction").is_not_null()).join(
        verdicts, on=["text_hash", "instruction"], how="left"
    )
    per_half = labelled.group_by("half").agg(
        pairs=pl.len(),
        labelled=pl.col("label").is_not_null().sum(),
        good=(pl.col("label") == "good").sum(),
        **{
            f"{r}_share": (pl.col("reason") == r).sum() / pl.col("label").is_not_null().sum()
            for r in REASONS[1:]
        },
    )
    # rows the drawing's floor left without a pair (inference/instructions.py): counted, never read
    abstained = pairs.group_by("half").agg(not_answered=(pl.col("status") == "not_answered").sum())
    segments = kept.group_by("half").agg(kept=pl.len()).join(abstained, on="half", how="left")
    return (
        segments.join(per_half, on="half", how="left")
        .with_columns(
            good_share=pl.col("good") / pl.col("labelled"),
            good_per_100_kept=100 * pl.col("good") / pl.col("kept"),
        )
        .sort("half", descending=True)
    )


def write_unlabelled(pairs: pl.DataFrame, labels: pl.DataFrame, path: Path) -> int:
    todo = pairs.filter(pl.col("instruction").is_not_null()).join(
        labels, on=["text_hash", "instruction"], how="anti"
    )
    todo.select(
        pl.col("text_hash").cast(pl.String), "source", "half", "header_path", "instruction", segment="text"
    ).write_ndjson(path)
    return todo.height


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--warehouse", type=Path, required=True)
    parser.add_argument("--prompt-version", help="the run's prompt version (default: the largest run)")
    parser.add_argument("--labels", type=Path, default=LABELS)
    parser.add_argument("--unlabelled", type=Path, help="write the pairs nobody has read yet here")
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args()
    labels = read_labels(args.labels)
    pairs, kept = run_pairs(args.warehouse, labels, args.prompt_version)
    table = figures(pairs, kept, labels)
    with pl.Config(tbl_rows=10, tbl_cols=20, float_precision=3, tbl_width_chars=160):
        print(table)
    for row in table.iter_rows(named=True):
        if row["labelled"] and row["labelled"] < row["pairs"]:
            print(f"{row['half']}: {row['pairs'] - row['labelled']} pairs not labelled yet")
    report = table.filter(pl.col("half") == "report").to_dicts()
    if report and report[0]["labelled"]:
        r = report[0]
        print(
            f"report half: {r['good_share']:.1%} good (target {TARGET_GOOD:.0%}); "
            f"{r['good_per_100_kept']:.1f} good per 100 kept segments "
            f"(target {TARGET_GAIN * BEFORE_PER_100:.1f}, {TARGET_GAIN}x {BEFORE_PER_100:.0f})"
        )
    if args.unlabelled:
        print(f"{write_unlabelled(pairs, labels, args.unlabelled)} unlabelled pairs -> {args.unlabelled}")
    if args.json:
        args.json.write_text(json.dumps(table.to_dicts(), indent=1) + "\n")


if __name__ == "__main__":
    main()
