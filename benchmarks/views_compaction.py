"""Benchmark: the views over a table left in 32-row batch files, the same table compacted, and one file.

The model stages commit one Parquet file per batch (`Warehouse.append_part`), so 1,000,000 scores
written 32 rows at a time are 31,250 files, and as many augmentations. The script builds the synthetic
warehouse of benchmarks/views_vs_polars.py (segments, documents, rejects and seeds; augmentations and
scores in two iterations), sized so that it holds about `--rows` scores, in two layouts:

* batched: augmentations and scores written through `append_part` in `--batch-rows` batches, as the
  stages write them; then compacted in place by `warehouse.compact.compact` (its time is printed);
* one file: every table as a single Parquet file (the floor).

Every other table is the same single file in both. For each layout it opens one `connect_views`
connection (timed: it reads the footers of every file of every table) and times the main views on it:
the median of `--repeats` runs after a warm-up; over the batch files, `--batched-repeats` runs (default
one, no warm-up: each run reads every file again, minutes at 62,500 files). It prints the times before
and after compaction and on one file, the ratio compacted / one file against the target of 1.2, and
checks that the three layouts answer every view alike (rows and a checksum).

Run from the repository root (the warehouses are written once and kept in --dir):

    .venv/bin/python -m benchmarks.views_compaction                 # 1,000,000 scores: ~62,000 files
    .venv/bin/python -m benchmarks.views_compaction --rows 100000   # a quick check
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import duckdb
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from benchmarks.harness import median
from benchmarks.views_vs_polars import build_warehouse
from warehouse.compact import compact
from warehouse.store import Warehouse
from warehouse.views import connect_views

GENERATOR_VERSION = 1
ITERATIONS = 2
SCORED_SHARE = 0.97  # views_vs_polars: 3% of the augmentations fail cleaning and get no score
BATCHED = ("augmentations", "scores")
TARGET_RATIO = 1.2
VIEWS = [
    ("scores by iteration", "SELECT iteration, mode, count(*), avg(score) FROM scores GROUP BY ALL"),
    ("candidates", "SELECT * FROM candidates"),
    ("curated(1, 4.5)", "SELECT * FROM curated(1, 4.5)"),
    ("funnel", "SELECT * FROM funnel"),
    ("score_histogram", "SELECT * FROM score_histogram"),
    ("iteration_diff(0, 4)", "SELECT * FROM iteration_diff(0, 4)"),
    ("data_statistics(1, 'direct')", "SELECT * FROM data_statistics(1, 'direct')"),
    ("training_pairs(1, 4, 'direct')", "SELECT * FROM training_pairs(1, 4, 'direct')"),
]  # fmt: skip


def _one_file(source: Path, target: Path) -> None:
    """Every table of `source` as a single Parquet file under `target`."""
    shutil.rmtree(target, ignore_errors=True)
    for table in sorted(p.name for p in source.iterdir() if p.is_dir() and not p.name.startswith((".", "_"))):
        (target / table).mkdir(parents=True)
        data = pq.read_table(sorted((source / table).glob("*.parquet")))
        pq.write_table(data, target / table / "part-00000.parquet", compression="zstd")


def _batched(one_file: Path, target: Path, batch_rows: int) -> int:
    """The one-file warehouse with augmentations and scores re-written in `batch_rows` batches through
    `append_part`; the number of files written."""
    shutil.rmtree(target, ignore_errors=True)
    store = Warehouse(target)
    written = 0
    for table in sorted(p.name for p in one_file.iterdir() if p.is_dir()):
        data = pq.read_table(one_file / table / "part-00000.parquet")
        if table not in BATCHED:
            store.replace_table(
                table, lambda folder, data=data: pq.write_table(data, folder / "part-00000.parquet")
            )
            continue
        starts = range(0, data.num_rows, batch_rows)
        store.ensure_table(table)
        with ThreadPoolExecutor(8) as pool:  # pyarrow writes outside the GIL
            list(
                pool.map(
                    lambda s, t=table, d=data: store.append_part(t, d.slice(s, batch_rows), f"{s:010d}"),
                    starts,
                )
            )
        written += len(starts)
    return written


def ensure_warehouses(folder: Path, rows: int, batch_rows: int) -> tuple[Path, Path, dict[str, float]]:
    """(batched, one-file) warehouses for these settings, built unless --dir has them; seconds spent.
    The batched one is written again after each run, which compacts it."""
    stamp = folder / "_bench.json"
    wanted = {"rows": rows, "batch_rows": batch_rows, "version": GENERATOR_VERSION}
    batched, one_file, spent = folder / "batched", folder / "one_file", {}
    if not (stamp.exists() and json.loads(stamp.read_text()) == wanted):
        shutil.rmtree(folder, ignore_errors=True)
        kept = max(round(rows / ITERATIONS / SCORED_SHARE), 10)
        started = time.perf_counter()
        build_warehouse(folder / "generated", kept, ITERATIONS)
        _one_file(folder / "generated", one_file)
        shutil.rmtree(folder / "generated")
        spent["generate"] = time.perf_counter() - started
        stamp.write_text(json.dumps(wanted))
    if not (batched / "_batched").exists():
        started = time.perf_counter()
        spent["files"] = _batched(one_file, batched, batch_rows)
        spent["write batches"] = time.perf_counter() - started
        (batched / "_batched").touch()
    return batched, one_file, spent


def _checksum(table: pa.Table) -> tuple[int, float]:
    frame = pl.from_arrow(table)
    numeric = [c for c, t in frame.schema.items() if t.is_numeric()]
    total = sum(float(frame[c].cast(pl.Float64).sum() or 0) for c in numeric)
    return frame.height, round(total, 3)


def _files(root: Path, table: str) -> int:
    return len(list(Warehouse(root).table_path(table).glob("**/*.parquet")))


Timings = dict[str, tuple[float, tuple[int, float]]]  # name: (median seconds, checksum of the result)


def time_views(roots: list[Path], repeats: int) -> list[Timings]:
    """For each warehouse of `roots`: the seconds to open a `connect_views` connection (it reads the
    footers of every table's files), then each view's on that connection; the median of `repeats`
    runs, after a warm-up when there are several. The warehouses take turns run by run, so that a
    machine's drift weighs on all of them alike."""
    warm = repeats > 1
    opening: list[list[float]] = [[] for _ in roots]
    cons: list[duckdb.DuckDBPyConnection] = []
    for _ in range(repeats + warm):
        for con in cons:
            con.close()
        cons = []
        for index, root in enumerate(roots):
            started = time.perf_counter()
            cons.append(connect_views(root))  # the last round's connections run the views
            opening[index].append(time.perf_counter() - started)
    results: list[Timings] = [{"(open a connection)": (median(o[warm:]), (0, 0.0))} for o in opening]
    try:
        for name, text in VIEWS:
            seconds: list[list[float]] = [[] for _ in roots]
            answers: list[pa.Table | None] = [None for _ in roots]
            for _ in range(repeats + warm):
                for index, con in enumerate(cons):
                    started = time.perf_counter()
                    answers[index] = con.sql(text).to_arrow_table()
                    seconds[index].append(time.perf_counter() - started)
            for index, answer in enumerate(answers):
                results[index][name] = (median(seconds[index][warm:]), _checksum(answer))
    finally:
        for con in cons:
            con.close()
    return results


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=1_000_000, help="score rows (as many augmentations)")
    parser.add_argument("--batch-rows", type=int, default=32, help="rows per committed batch file")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument(
        "--batched-repeats",
        type=int,
        default=1,
        help="runs of each view over the batch files (each reads every file: slow); 1: no warm-up",
    )
    parser.add_argument("--dir", type=Path, default=Path("/tmp/humpback-bench-compaction"))
    args = parser.parse_args()

    batched, one_file, spent = ensure_warehouses(args.dir, args.rows, args.batch_rows)
    if "generate" in spent:
        print(f"generated the tables in {spent['generate']:.0f} s ({args.dir})")
    if "files" in spent:
        seconds = spent["write batches"]
        print(f"wrote {int(spent['files']):,} batch files through append_part in {seconds:.0f} s")
    con = connect_views(one_file)
    sizes = {t: con.sql(f"SELECT count(*) FROM {t}").fetchall()[0][0] for t in ("segments", *BATCHED)}
    con.close()
    print(
        f"{sizes['scores']:,} scores, {sizes['augmentations']:,} augmentations,"
        f" {sizes['segments']:,} segments; {os.cpu_count()} cores; median of {args.repeats} runs"
        f" after a warm-up, the compacted and one-file layouts taking turns ({args.batched_repeats} over"
        " the batch files); one connection per layout\n"
    )
    layouts = {"batched": (batched, {t: _files(batched, t) for t in BATCHED})}
    (before,) = time_views([batched], args.batched_repeats)
    (batched / "_batched").unlink()  # compacted from here on: the next run writes the batches again
    reports = compact(batched, list(BATCHED))
    for report in reports:
        print(f"compaction: {report.describe()}")
    layouts["compacted"] = (batched, {t: _files(batched, t) for t in BATCHED})
    layouts["one file"] = (one_file, {t: _files(one_file, t) for t in BATCHED})
    after, floor = time_views([batched, one_file], args.repeats)
    for name, (_, counts) in layouts.items():
        print(f"  {name}: " + ", ".join(f"{t} {n:,} files" for t, n in counts.items()))
    print()

    header = f"{'view':<32}{'rows':>10}{'batched s':>11}{'compacted s':>13}{'one file s':>12}{'ratio':>7}"
    header += "  verdict"
    print(header)
    print("-" * len(header))
    misses = 0
    for name in before:
        (b, b_sum), (c, c_sum), (f, f_sum) = before[name], after[name], floor[name]
        ratio = c / f
        same = b_sum == c_sum == f_sum
        ok = ratio <= TARGET_RATIO and same
        misses += not ok
        verdict = "PASS" if ok else "MISS" + ("" if same else f" (results differ: {b_sum} {c_sum} {f_sum})")
        print(f"{name:<32}{c_sum[0]:>10,}{b:>11.3f}{c:>13.3f}{f:>12.3f}{ratio:>7.2f}  {verdict}")
    print(
        f"\ncompaction took {sum(r.seconds for r in reports):.1f} s; target: compacted within "
        f"{TARGET_RATIO:g}x of one file, {'met' if not misses else f'{misses} missed'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
