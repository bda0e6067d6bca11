"""Benchmark: how often self-curation is right, per scoring mode, on labelled pairs, and how fast.

The labelled set (`inference/curation/labelled.py`) is built at run time from `../shared/data`:
positives are the human pairs of `seed/` (OpenAssistant first turns with their rank-0 reply, dolly
records, Self-Instruct instances); negatives are made from the same pairs (benchmark family: another
pair's answer, real site furniture cut from the readability test pages, the answer cut short, the
answer told as forum chatter, an answer that only repeats the question), plus OpenAssistant's
lowest-ranked reply against its rank-0 sibling. Pairs are split by a hash of their instruction: the
scoring mode's choices (features, likelihood tokens, score levels) were made on `tune`; the figures
are reported on `report` (the default).

Every mode scores the same rows with the embedded model on the same threads:

* `calibrated (embedded seeds)`: the default mode as `make etl` runs it, its calibration fitted on the
  embedded seed set;
* `calibrated (tune seeds)`: calibrated on the tune split's positives, as a user with OpenAssistant,
  dolly and Self-Instruct seeds would (at most 64 of them, as by default);
* `direct` and `reasoned`: the paper's modes, its baseline.

It prints, per mode: AUROC of the expected score against each kind of negative, the precision and
recall of A_4 (score >= 4) and A_5 (score 5) where every kind of negative (OpenAssistant's
lower-ranked replies aside) is as frequent as the positives, the share of rows scored, and pairs per
second (the calibration's fit timed apart), then each figure's target. Calibrations are fitted anew
in a temporary cache unless `--reuse-calibrations`.

    .venv/bin/python -m benchmarks.curation_quality                          # report split, all modes
    .venv/bin/python -m benchmarks.curation_quality --modes calibrated,direct --negatives-per-kind 40
    .venv/bin/python -m benchmarks.curation_quality --record                 # also the report's figures
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import polars as pl

from benchmarks.harness import ROOT as REPO  # and the repository on the import path
from benchmarks.harness import SHARED_DATA as DATA
from etl.furniture import furniture_lines
from etl.seeds.loaders import load_embedded_seeds, load_oasst_ranked, load_seed_file
from inference.augment import cut_input
from inference.curation.labelled import LOWER_RANKED, POSITIVE, labelled_pairs
from inference.curation.metrics import auroc, selection
from inference.curation.negatives import KINDS
from inference.curation.rater import make_rater
from inference.engines import open_engine

SEED_FILES = ("oasst_en_100_tree.jsonl", "dolly_subset151_parsed.jsonl", "self_instruct_seed_tasks.jsonl")
FIGURES = REPO / "warehouse" / "report" / "curation_benchmark.json"  # the report shows them
TARGET_AUROC = 0.90
TARGET_LOWER_RANKED = 0.60
TARGET_PRECISION, TARGET_RECALL = 0.90, 0.50
TARGET_SPEED = 0.5  # of direct's pairs per second


def labelled_set(data: Path = DATA) -> pl.DataFrame:
    """The whole labelled set from the shared data (both splits)."""
    positives = pl.concat([load_seed_file(data / "seed" / name).frame() for name in SEED_FILES])
    positives = positives.rename({"seed_id": "pair_id"})
    lines: list[str] = []
    for page in sorted((data / "html" / "mozilla_readability" / "test-pages").iterdir()):
        source, expected = page / "source.html.gz", page / "expected.html.gz"
        if source.is_file() and expected.is_file():
            lines += furniture_lines(_read_gzip(source), _read_gzip(expected))
    ranked = load_oasst_ranked(data / "seed" / "oasst_en_100_tree.jsonl")
    return labelled_pairs(positives, lines, ranked)


def _read_gzip(path: Path) -> str:
    with gzip.open(path, "rt", encoding="utf-8", errors="replace") as handle:
        return handle.read()


def sample(frame: pl.DataFrame, split: str, per_kind: int | None, positives: int | None) -> pl.DataFrame:
    """The split's rows, at most `per_kind` negatives of each kind and `positives` positives, chosen
    by a hash of the pair (the same rows every run)."""
    part = frame.filter(pl.col("split") == split).sort(pl.col("pair_id").hash(seed=3), "kind")
    limit = pl.when(pl.col("kind") == POSITIVE).then(pl.lit(positives)).otherwise(pl.lit(per_kind))
    ranked = pl.int_range(pl.len()).over("kind")
    return part.filter(limit.is_null() | (ranked < limit)).sort("kind", "pair_id")


def figures(rows: pl.DataFrame) -> dict[str, object]:
    kinds = [k for k in (*KINDS, LOWER_RANKED) if (rows["kind"] == k).any()]
    constructed = [k for k in kinds if k != LOWER_RANKED]
    return {
        "auroc": {k: auroc(rows, "expected_score", k) for k in kinds},
        "a4": selection(rows.with_columns(chosen=pl.col("score") >= 4), "chosen", constructed),
        "a5": selection(rows.with_columns(chosen=pl.col("score") >= 5), "chosen", constructed),
        "scored": float((rows["status"] == "ok").mean()),
    }


def run_mode(engine, rows: pl.DataFrame, mode: str, seeds: pl.DataFrame | None, batch: int) -> dict:
    started = time.perf_counter()
    rater, _ = make_rater(
        engine, mode, seeds=seeds if seeds is not None else pl.DataFrame(), show_progress=True
    )
    fit_seconds = time.perf_counter() - started
    answers = cut_input(rows["output"], rater.sampling.max_input_chars)["text"].to_list()
    instructions = rows["instruction"].to_list()
    parts = []
    started = time.perf_counter()
    for offset in range(0, rows.height, batch):
        columns = rater.rate(engine, instructions[offset : offset + batch], answers[offset : offset + batch])
        parts.append(
            pl.DataFrame({k: columns[k] for k in ("score", "expected_score", "status")}, strict=False)
        )
        print(f"    {mode}: {min(offset + batch, rows.height)}/{rows.height}", end="\r", flush=True)
    seconds = time.perf_counter() - started
    scored = pl.concat([rows, pl.concat(parts, how="vertical_relaxed")], how="horizontal")
    result = figures(scored) | {
        "pairs": rows.height,
        "seconds": seconds,
        "pairs_per_second": rows.height / seconds,
        "fit_seconds": fit_seconds if mode == "calibrated" else None,
        "calibration": rater.calibration.version if rater.calibration else None,
        "prompt_version": rater.version,
    }
    return result


def _fmt(value: object, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def print_table(results: dict[str, dict], kinds: list[str]) -> None:
    header = ["mode", *kinds, "A_4 P", "A_4 R", "A_5 P", "A_5 R", "scored", "pairs/s"]
    rows = []
    for name, r in results.items():
        rows.append(
            [
                name,
                *(_fmt(r["auroc"].get(k)) for k in kinds),
                _fmt(r["a4"]["precision"]),
                _fmt(r["a4"]["recall"]),
                _fmt(r["a5"]["precision"]),
                _fmt(r["a5"]["recall"]),
                _fmt(r["scored"], 2),
                _fmt(r["pairs_per_second"], 2),
            ]
        )
    targets = ["target", *(f">={TARGET_LOWER_RANKED if k == LOWER_RANKED else TARGET_AUROC}" for k in kinds)]
    targets += [f">={TARGET_PRECISION}", f">={TARGET_RECALL}", "", "", ">=1.00", f">={TARGET_SPEED}x direct"]
    widths = [max(len(str(x)) for x in col) for col in zip(header, targets, *rows, strict=True)]
    for line in (header, *rows, targets):
        print("  ".join(str(x).rjust(w) for x, w in zip(line, widths, strict=True)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--split", default="report", choices=("tune", "report"))
    parser.add_argument("--negatives-per-kind", type=int, default=100)
    parser.add_argument("--positives", type=int, default=None, help="at most this many positives (all)")
    parser.add_argument("--modes", default="calibrated,direct,reasoned")
    parser.add_argument("--calibrations", default="embedded,tune", help="seed sets of the calibrated mode")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--parallel", type=int, default=8)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--reuse-calibrations", action="store_true", help="use fits in ~/.cache/humpback")
    parser.add_argument("--out", type=Path, help="write the figures as JSON")
    parser.add_argument(
        "--record", action="store_true", help=f"also write them to {FIGURES.relative_to(REPO)}"
    )
    args = parser.parse_args()
    if not DATA.is_dir():
        sys.exit(f"the shared data is not at {DATA}")
    if not args.reuse_calibrations:
        os.environ["XDG_CACHE_HOME"] = tempfile.mkdtemp(prefix="humpback-bench-cache-")

    everything = labelled_set()
    rows = sample(everything, args.split, args.negatives_per_kind, args.positives)
    counts = dict(rows.group_by("kind").len().sort("kind").iter_rows())
    print(f"labelled set: {everything.height} rows; {args.split} split sample: {counts}")
    tune_seeds = everything.filter((pl.col("split") == "tune") & (pl.col("kind") == POSITIVE)).select(
        seed_id="pair_id", instruction="instruction", output="output"
    )
    seed_sets = {"embedded": load_embedded_seeds().frame(), "tune": tune_seeds}
    engine = open_engine(parallel=args.parallel, threads=args.threads, n_ctx=16384)
    results: dict[str, dict] = {}
    try:
        for mode in args.modes.split(","):
            if mode == "calibrated":
                for name in args.calibrations.split(","):
                    label = f"calibrated ({name} seeds)"
                    done = results[label] = run_mode(engine, rows, mode, seed_sets[name], args.batch)
                    print(
                        f"  {label}: {done['pairs_per_second']:.2f} pairs/s, fit {done['fit_seconds']:.0f} s"
                    )
            else:
                results[mode] = run_mode(engine, rows, mode, None, args.batch)
                print(f"  {mode}: {results[mode]['pairs_per_second']:.2f} pairs/s")
    finally:
        engine.close()
    kinds = [k for k in (*KINDS, LOWER_RANKED) if k in counts]
    positives = counts.get(POSITIVE, 0)
    print(f"\nsplit {args.split}: {rows.height} pairs ({positives} positives); AUROC of the expected score:")
    print_table(results, kinds)
    if "direct" in results:
        for name, r in results.items():
            if name.startswith("calibrated"):
                ratio = r["pairs_per_second"] / results["direct"]["pairs_per_second"]
                print(f"{name}: {ratio:.2f}x direct's pairs per second (target >= {TARGET_SPEED})")
    record = {
        "model": engine.model_id,
        "split": args.split,
        "rows": counts,
        "threads": args.threads,
        "modes": results,
        "measured_at": time.strftime("%Y-%m-%d"),
    }
    if args.out:
        args.out.write_text(json.dumps(record, indent=2, sort_keys=True))
    if args.record:
        FIGURES.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
        print(f"recorded in {FIGURES.relative_to(REPO)}")


if __name__ == "__main__":
    main()
