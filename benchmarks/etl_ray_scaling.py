"""Benchmark: the ETL on the Ray engine with one and two workers, against the local engine.

In one run, on the same corpus, each configuration as a user runs it (`humpback etl ... --no-progress`,
a fresh subprocess and a fresh warehouse each time, Ray's start-up and shut-down included):

* local: the local engine, `--workers 2` (a process pool of 2);
* ray-1: `--engine ray --workers 1`, a local Ray instance of 1 CPU (reader tasks take no CPU);
* ray-2: `--engine ray --workers 2`, a local Ray instance of 2 CPUs.

Runs are interleaved (local, ray-1, ray-2, then again) so that a noisy stretch of the machine hits all
three; the medians over `--repeats` give the speedups and their targets: ray-2 at least 1.7x ray-1, and
ray-2 within 1.2x of local's time. It also checks that the three runs' tables are identical.

The corpus: the 130 readability pages and the dolma WARC pages of `../shared/data`, replicated to
`--pages` records with unique bytes (as `etl_vs_datatrove.py` builds it) and written round-robin into
`--files` WARC files, since the Ray engine reads one file per reader task.

    .venv/bin/python -m benchmarks.etl_ray_scaling                      # --pages 4000 --files 4 --repeats 3
    .venv/bin/python -m benchmarks.etl_ray_scaling --pages 800 --repeats 1   # a quick check
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import polars as pl
from etl_vs_datatrove import load_pages, write_corpus

from benchmarks.harness import ROOT, SHARED_DATA, median, timed

CONFIGS = {
    "local": ["--workers", "2"],
    "ray-1": ["--engine", "ray", "--workers", "1"],
    "ray-2": ["--engine", "ray", "--workers", "2"],
}
TABLES = ("documents", "segments", "rejects")


def run(config: str, inputs: Path, warehouse: Path, log: Path) -> tuple[float, float]:
    """Wall seconds of the command, and the seconds its summary reports (from the first batch to the
    tables written: without Python's and Ray's start-up and Ray's shut-down)."""
    shutil.rmtree(warehouse, ignore_errors=True)
    cmd = [str(ROOT / ".venv" / "bin" / "humpback"), "etl", str(inputs), "--warehouse", str(warehouse)]
    with open(log, "w") as out:
        seconds, done = timed(
            lambda: subprocess.run(
                [*cmd, *CONFIGS[config], "--no-progress"], stdout=out, stderr=subprocess.STDOUT
            )
        )
    if done.returncode != 0:
        raise RuntimeError(f"{config} failed; see {log}")
    reported = re.search(r"ETL finished in ([0-9.]+) s", log.read_text())
    return seconds, float(reported.group(1)) if reported else float("nan")


def tables(warehouse: Path) -> dict[str, pl.DataFrame]:
    return {name: pl.read_parquet(warehouse / name / "*.parquet") for name in TABLES}


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=SHARED_DATA)
    parser.add_argument("--pages", type=int, default=4000)
    parser.add_argument("--files", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-ray-"))
    corpus = write_corpus(load_pages(args.data), args.pages, work / "corpus", shards=args.files)
    inputs = corpus.shards
    print(f"corpus: {args.pages} pages in {args.files} WARC files, {inputs}")
    seconds: dict[str, list[float]] = {name: [] for name in CONFIGS}
    inside: dict[str, list[float]] = {name: [] for name in CONFIGS}
    first: dict[str, dict[str, pl.DataFrame]] = {}
    for repeat in range(args.repeats):
        for name in CONFIGS:
            warehouse = work / f"wh-{name}"
            took, reported = run(name, inputs, warehouse, work / f"{name}-{repeat}.log")
            seconds[name].append(took)
            inside[name].append(reported)
            print(f"  run {repeat + 1}: {name:<6} {took:7.1f} s  (summary: {reported:.1f} s)", flush=True)
            if repeat == 0:
                first[name] = tables(warehouse)

    identical = all(first[name][t].equals(first["local"][t]) for name in CONFIGS for t in TABLES)
    medians = {name: median(values) for name, values in seconds.items()}
    median_inside = {name: median(values) for name, values in inside.items()}
    print(f"\nmedian of {args.repeats} runs, {args.pages} pages (wall; the run's own summary):")
    for name, value in medians.items():
        print(f"  {name:<6} {value:7.1f} s  {args.pages / value:6.1f} pages/s;  {median_inside[name]:7.1f} s")
    print(
        "without start-up and shut-down: "
        f"ray-2 over ray-1 {median_inside['ray-1'] / median_inside['ray-2']:.2f}x, "
        f"ray-2 / local {median_inside['ray-2'] / median_inside['local']:.2f}x"
    )
    scaling = medians["ray-1"] / medians["ray-2"]
    overhead = medians["ray-2"] / medians["local"]
    print(
        f"ray-2 speedup over ray-1: {scaling:.2f}x (target >= 1.7x): {'PASS' if scaling >= 1.7 else 'MISS'}"
    )
    print(
        f"ray-2 time / local time: {overhead:.2f}x (target <= 1.2x): {'PASS' if overhead <= 1.2 else 'MISS'}"
    )
    print(f"tables identical across the three: {identical}")
    shutil.rmtree(work, ignore_errors=True)
    return 0 if identical else 1


if __name__ == "__main__":
    sys.exit(main())
