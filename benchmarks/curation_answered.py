"""Benchmark: does self-curation keep the engine's good pairs and drop its bad ones? On real engine
pairs, read one by one, not on constructed negatives.

`tests/data/answered_pairs/labels.jsonl` holds instructions the engine's backward models wrote for
segments of the English pages under ../shared/data (and of `make etl`'s sample corpus), each labelled
good or bad by reading (`tests/data/answered_pairs/RULE.md`). For the augmentation run of `--warehouse`
(its largest run, or `--prompt-version`), this scores the run's labelled pairs (the instruction each
segment got: the ones curation sees; pairs nobody has read yet are counted and left out) with the
scoring modes as `humpback curate` runs them on the embedded model, the calibrated mode fitted on
`--seeds` (default: `make etl`'s seed files), not the warehouse's own scores, so a changed curation is
measured on the same pairs; and prints per half (tune, report; by page) and mode:

* the good share of the pairs (the base rate any selection should beat);
* the AUROC of the expected score against the labels (0.5: curation ranks at chance);
* the precision and recall of A_4 (score >= 4) and A_5 (score 5);
* for reference, the AUROC of the instruction's coverage by its segment (`inference/coverage.py`),
  a signal that needs no model.

Scores are kept in `--cache` by pair, mode, model and prompt version (a calibration's version is part
of its prompt version), so a rerun only scores what is missing. Targets (curation issue, report half):
A_5 precision at least 0.90, A_4 precision at least 0.85 with recall at least 0.50.

    .venv/bin/python -m benchmarks.curation_answered --warehouse DIR [--modes calibrated,direct]
        [--seeds etl/seeds/embedded_seeds.jsonl]

DIR: a warehouse whose ETL read the pages the labels cover (../shared/data/html/trafilatura_en, or
`make etl`'s sample) and whose augmentation ran with the pipeline to measure.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import polars as pl
from tqdm import tqdm

from benchmarks.augmentation_answered import LABELS, read_labels, run_pairs
from benchmarks.harness import MAKE_ETL_SEEDS
from etl.seeds.loaders import load_seed_file
from inference.coverage import coverage_expr
from inference.curation.metrics import auroc
from inference.curation.rater import make_rater
from inference.engines import open_engine

TARGET_A5_PRECISION, TARGET_A4_PRECISION, TARGET_A4_RECALL = 0.90, 0.85, 0.50
CACHE = Path.home() / ".cache" / "humpback" / "benchmarks" / "curation_answered.jsonl"
COLUMNS = ("pairs", "good_share", "auroc", "a4_kept", "a4_precision", "a4_recall")
COLUMNS += ("a5_kept", "a5_precision", "a5_recall")
KEY = ("text_hash", "instruction", "mode", "model", "prompt_version")


def labelled_pairs(warehouse: Path, labels: Path, prompt_version: str | None) -> pl.DataFrame:
    """The augmentation run's pairs that are labelled (one per segment that got an instruction), with
    their segment's text: text_hash, instruction, half, good, output."""
    read = read_labels(labels)
    pairs, _ = run_pairs(warehouse, read, prompt_version)
    written = pairs.filter(pl.col("instruction").is_not_null())
    found = written.join(read.select("text_hash", "instruction", "label"), on=["text_hash", "instruction"])
    if found.height < written.height:
        print(f"{written.height - found.height} of {written.height} pairs are not labelled yet (left out)")
    return found.select(
        "text_hash", "instruction", "half", good=pl.col("label") == "good", output="text"
    ).sort("text_hash", "instruction")


def read_cache(path: Path) -> pl.DataFrame:
    schema = {"text_hash": pl.UInt64, "instruction": pl.String, "mode": pl.String, "model": pl.String}
    schema |= {"prompt_version": pl.String, "expected_score": pl.Float64, "score": pl.Int64}
    if not path.exists():
        return pl.DataFrame(schema=schema)
    return pl.read_ndjson(path, schema=schema)


def read_seeds(paths: list[Path]) -> pl.DataFrame:
    """The seed pairs the calibrated mode is fitted on, as `humpback seed load` reads them."""
    return pl.concat([load_seed_file(p).frame() for p in paths]).unique(
        "seed_id", keep="first", maintain_order=True
    )


def score_missing(
    pairs: pl.DataFrame, modes: list[str], seeds: pl.DataFrame, cache: Path, batch: int, threads: int
) -> dict[str, tuple[str, str]]:
    """Score every (pair, mode) the cache lacks, appending each batch as it finishes (resumable).
    Returns each mode's (model, prompt version): the scores to read back."""
    cache.parent.mkdir(parents=True, exist_ok=True)
    engine = open_engine(threads=threads, n_ctx=16384)
    used: dict[str, tuple[str, str]] = {}
    try:
        for mode in modes:
            rater, _ = make_rater(engine, mode, seeds=seeds, show_progress=True)
            used[mode] = (engine.model_id, rater.version)
            known = read_cache(cache).filter(
                (pl.col("mode") == mode)
                & (pl.col("model") == engine.model_id)
                & (pl.col("prompt_version") == rater.version)
            )
            todo = pairs.join(known, on=["text_hash", "instruction"], how="anti")
            bar = tqdm(total=todo.height, desc=f"curate ({mode})", unit="pair")
            for part in todo.iter_slices(batch):
                rated = rater.frame(engine, part["instruction"].to_list(), part["output"])
                rows = part.select("text_hash", "instruction").with_columns(
                    mode=pl.lit(mode),
                    model=pl.lit(engine.model_id),
                    prompt_version=pl.lit(rater.version),
                    expected_score=rated["expected_score"],
                    score=rated["score"].cast(pl.Int64),
                )
                with cache.open("a") as out:
                    out.write(rows.write_ndjson())
                bar.update(part.height)
            bar.close()
    finally:
        engine.close()
    return used


def figures(scored: pl.DataFrame) -> dict[str, float | int | None]:
    """AUROC and the A_4 and A_5 selections of one mode's scores on one half."""
    labelled = scored.with_columns(kind=pl.when("good").then(pl.lit("positive")).otherwise(pl.lit("bad")))
    goods = int(scored["good"].sum())
    result: dict[str, float | int | None] = {
        "pairs": scored.height,
        "good_share": goods / scored.height if scored.height else None,
        "auroc": auroc(labelled, "expected_score", "bad"),
    }
    for name, k in (("a4", 4), ("a5", 5)):  # A_k of a whole k: the score, as the engine's curated sets
        kept = scored.filter(pl.col("score") >= k)
        result[f"{name}_kept"] = kept.height
        result[f"{name}_precision"] = float(kept["good"].mean()) if kept.height else None
        result[f"{name}_recall"] = int(kept["good"].sum()) / goods if goods else None
    return result


def _fmt(value: object) -> str:
    return "-" if value is None else f"{value:.3f}" if isinstance(value, float) else str(value)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--warehouse", type=Path, required=True, help="a warehouse with an augmentation run")
    parser.add_argument("--prompt-version", help="the run's prompt version (default: the largest run)")
    parser.add_argument("--modes", default="calibrated", help="comma-separated: calibrated,direct,reasoned")
    parser.add_argument("--labels", type=Path, default=LABELS)
    parser.add_argument(
        "--seeds", type=Path, nargs="+", default=list(MAKE_ETL_SEEDS), help="the calibration's seed files"
    )
    parser.add_argument("--cache", type=Path, default=CACHE, help="scores kept between runs")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args()
    modes = args.modes.split(",")
    pairs = labelled_pairs(args.warehouse, args.labels, args.prompt_version)
    print(f"{pairs.height} labelled pairs ({int(pairs['good'].sum())} good)")
    used = score_missing(pairs, modes, read_seeds(args.seeds), args.cache, args.batch, args.threads)
    scores = read_cache(args.cache).unique(KEY, keep="last", maintain_order=True)
    with_coverage = pairs.with_columns(coverage=coverage_expr("instruction", "output"))
    results: dict[str, dict] = {}
    header = ["half", "mode", "pairs", "good share", "AUROC", "A_4 kept", "A_4 P", "A_4 R"]
    header += ["A_5 kept", "A_5 P", "A_5 R"]
    table = [header]
    for half in ("tune", "report"):
        part = with_coverage.filter(pl.col("half") == half)
        for mode in modes:
            model, version = used[mode]
            mine = (
                (pl.col("mode") == mode) & (pl.col("model") == model) & (pl.col("prompt_version") == version)
            )
            scored = part.join(scores.filter(mine), on=["text_hash", "instruction"])
            r = results.setdefault(half, {})[mode] = figures(scored)
            table.append([half, mode, *(r[c] for c in COLUMNS)])
        labelled = part.with_columns(kind=pl.when("good").then(pl.lit("positive")).otherwise(pl.lit("bad")))
        results[half]["coverage_auroc"] = auroc(labelled, "coverage", "bad")
        table.append([half, "(coverage)", part.height, None, results[half]["coverage_auroc"], *[None] * 6])
    targets = {"a4_precision": TARGET_A4_PRECISION, "a4_recall": TARGET_A4_RECALL}
    table.append(
        [
            "target",
            "report",
            *(targets.get(c, TARGET_A5_PRECISION if c == "a5_precision" else None) for c in COLUMNS),
        ]
    )
    widths = [max(len(_fmt(row[i])) for row in table) for i in range(len(header))]
    for row in table:
        print("  ".join(_fmt(v).rjust(w) for v, w in zip(row, widths, strict=True)))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
