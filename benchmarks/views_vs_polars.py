"""Benchmark: the SQL layer's views against the same queries written as plain Polars scans.

The script writes a synthetic warehouse (by default 1,250,000 segments, of which 1,000,000 are kept and
each augmented and scored in two iterations: 2,000,000 augmentation and 2,000,000 score rows), then
answers each main view two ways over the same Parquet files:

* DuckDB: `connect_views(warehouse)` (the connection `humpback sql` and notebooks use), the view's
  whole result fetched as an Arrow table;
* Polars: `pl.scan_parquet` of the tables and the view's logic as a lazy query, collected.

Each pair of results is checked equal (rows and a checksum column) so both sides answer the same
question. It prints the median time of each over `--repeats` runs (after one warm-up), their ratio and
the verdict against the targets: every view under 2 s, and within 1.5x of Polars.

Run from the repository root (the warehouse is written once and kept in --dir):

    .venv/bin/python -m benchmarks.views_vs_polars                    # 1,000,000 scored segments
    .venv/bin/python -m benchmarks.views_vs_polars --kept 100000 --repeats 3   # a quick check
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from benchmarks.harness import median
from common.text import WORD
from etl.seeds.loaders import load_embedded_seeds
from warehouse.schemas import AUGMENTATIONS, DOCUMENTS, REJECTS, SCORES, SEEDS, SEGMENTS
from warehouse.views import connect_views

GENERATOR_VERSION = 2
PART_ROWS = 100_000  # rows per Parquet file, as a compacted warehouse holds them
MAX_SECONDS = 2.0
MAX_RATIO = 1.5
VERBS = ["explain", "write", "describe", "how", "what", "list", "summarize", "give", "why", "compare",
         "can", "please", "i", "a", "create", "tell"]  # fmt: skip
REASONS = ["too_few_words", "too_short_chars", "header_capitals", "bullet_lines", "few_stop_words",
           "lang:fr", "lang:de", "non_alpha_words", "mean_word_length", "boilerplate_lines"]  # fmt: skip
SCORE_WEIGHTS = [0.08, 0.22, 0.30, 0.28, 0.12]


# The synthetic warehouse --------------------------------------------------------------------------------
def _write(table: pa.Table, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for index, start in enumerate(range(0, max(table.num_rows, 1), PART_ROWS)):
        pq.write_table(
            table.slice(start, PART_ROWS), folder / f"part-{index:05d}.parquet", compression="zstd"
        )


def _ids(prefix: str, n: int) -> pl.Series:
    return pl.Series([f"{prefix}{i:016x}" for i in range(n)])


def _texts(rng: np.random.Generator, vocabulary: list[str], lengths: np.ndarray) -> list[str]:
    """Texts of the given word counts, cut at word boundaries from one long random word stream."""
    pool_words = rng.choice(np.array(vocabulary), size=2_000_000)
    pool = " ".join(pool_words.tolist())
    starts = np.concatenate([[0], np.cumsum([len(w) + 1 for w in pool_words.tolist()])])
    first = rng.integers(0, len(pool_words) - lengths.max() - 1, size=len(lengths))
    begin, end = starts[first], starts[first + lengths] - 1
    return [pool[b:e] for b, e in zip(begin.tolist(), end.tolist(), strict=True)]


def _vocabulary(seeds: pl.DataFrame) -> list[str]:
    """Real English words, from our own seed set."""
    return seeds["output"].str.extract_all(r"[A-Za-z]+").explode().unique().sort().to_list()


def build_warehouse(root: Path, kept: int, iterations: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    seeds = load_embedded_seeds().frame()
    vocabulary = _vocabulary(seeds)
    n_segments = kept * 5 // 4
    n_documents = max(n_segments // 10, 1)
    provenance = {
        "model": pl.lit("f" * 64),
        "model_source": pl.lit("synthetic"),
        "params": pl.lit('{"temperature": 0.7}'),
        "input_truncated": pl.lit(False),
        "created_at": pl.datetime(2026, 1, 1, time_zone="UTC"),
    }

    documents = pl.DataFrame({"doc_id": _ids("d", n_documents)}).with_columns(
        url=pl.format("https://example.org/{}", pl.col("doc_id")),
        source=pl.format("corpus.warc.gz@{}", pl.int_range(pl.len())),
        status=pl.when(pl.int_range(pl.len()) % 50 == 0).then(pl.lit("no_text")).otherwise(pl.lit("ok")),
        batch_id=pl.lit("b"),
    )
    rejects = pl.DataFrame({"reject_id": _ids("r", n_documents // 50)}).with_columns(
        stage=pl.lit("extract"), reason=pl.lit("no_html"), source=pl.lit("corpus.warc.gz@0")
    )

    n_words = np.clip(rng.lognormal(4.3, 0.6, size=n_segments).astype(np.int64), 5, 2000)
    segments = pl.DataFrame(
        {
            "segment_id": _ids("s", n_segments),
            "doc_id": pl.Series(_ids("d", n_documents).to_numpy()[rng.integers(0, n_documents, n_segments)]),
            "text": _texts(rng, vocabulary, n_words),
            "n_words": n_words.astype(np.int32),
        }
    ).with_columns(
        url=pl.format("https://example.org/{}", pl.col("doc_id")),
        source=pl.lit("corpus.warc.gz@0"),
        header=pl.lit("A header"),
        header_level=pl.lit(2, pl.Int8),
        header_path=pl.lit("Title > A header"),
        position=pl.lit(0, pl.Int32),
        n_chars=pl.col("text").str.len_chars().cast(pl.Int32),
        lang=pl.lit("en"),
    )
    # the first `kept` segments pass; of the rest, half fail a filter and half are near-duplicates of a
    # kept segment (clusters of two to four members, the kept one their representative)
    dropped = n_segments - kept
    filtered = dropped // 2
    duplicates = dropped - filtered
    representatives = rng.choice(kept, size=max(duplicates // 2, 1), replace=False)
    duplicate_of = representatives[rng.integers(0, len(representatives), size=duplicates)]
    ids = segments["segment_id"].to_numpy()
    dup_cluster = np.full(n_segments, None, dtype=object)
    dup_cluster[kept + filtered :] = ids[duplicate_of]
    dup_cluster[np.unique(duplicate_of)] = ids[np.unique(duplicate_of)]
    reasons = [[] for _ in range(kept)]
    reasons += [[REASONS[i % 10], REASONS[(i * 7 + 3) % 10]][: 1 + i % 2] for i in range(filtered)]
    reasons += [["duplicate"]] * duplicates
    segments = segments.with_columns(
        dup_cluster=pl.Series(dup_cluster.tolist(), dtype=pl.String),
        is_duplicate=pl.int_range(pl.len()) >= kept + filtered,
        keep=pl.int_range(pl.len()) < kept,
        reasons=pl.Series(reasons, dtype=pl.List(pl.String)),
    )

    augmentations, scores = [], []
    for iteration in range(iterations):
        verbs = np.array(VERBS)[rng.integers(0, len(VERBS), size=kept)]
        lengths = rng.integers(3, 30, size=kept)
        bodies = _texts(rng, vocabulary, lengths)
        ok = rng.random(kept) > 0.03
        frame = pl.DataFrame(
            {
                "segment_id": segments["segment_id"].head(kept),
                "instruction": [
                    f"{v.capitalize()} {b}?" for v, b in zip(verbs.tolist(), bodies, strict=True)
                ],
                "ok": ok,
            }
        ).with_columns(
            augmentation_id=pl.format("a{}-{}", pl.lit(iteration), pl.col("segment_id")),
            iteration=pl.lit(iteration, pl.Int32),
            backward_model=pl.lit("few_shot_base"),
            status=pl.when("ok").then(pl.lit("ok")).otherwise(pl.lit("copied_example")),
            sampling_seed=pl.int_range(pl.len(), dtype=pl.Int64),
            prompt_version=pl.lit("backtranslate-fewshot-v1:0"),
            batch_id=pl.lit(f"a{iteration}"),
            **provenance,
        )
        instruction = pl.when("ok").then("instruction")
        frame = frame.with_columns(
            instruction, instruction_words=instruction.str.count_matches(WORD).cast(pl.Int32)
        )
        augmentations.append(frame)
        scored = frame.filter("ok")
        probs = rng.dirichlet(np.array(SCORE_WEIGHTS) * 4, size=scored.height)
        scores.append(
            scored.select("augmentation_id", "segment_id", "iteration").with_columns(
                score_id=pl.format("r{}", pl.col("augmentation_id")),
                mode=pl.lit("direct"),
                score=pl.Series((probs.argmax(axis=1) + 1).astype(np.int8)),
                expected_score=pl.Series(probs @ np.arange(1, 6)),
                probs=pl.Series(probs.tolist(), dtype=pl.List(pl.Float64)),
                parse_status=pl.lit("ok"),
                status=pl.lit("ok"),
                prompt_version=pl.lit("rate-direct-v1:0"),
                batch_id=pl.lit(f"r{iteration}"),
                **provenance,
            )
        )

    shutil.rmtree(root, ignore_errors=True)
    for name, frame, schema in (
        ("documents", documents, DOCUMENTS),
        ("rejects", rejects, REJECTS),
        ("segments", segments, SEGMENTS),
        ("seeds", seeds, SEEDS),
        ("augmentations", pl.concat(augmentations), AUGMENTATIONS),
        ("scores", pl.concat(scores), SCORES),
    ):
        missing = [pl.lit(None).alias(f.name) for f in schema if f.name not in frame.columns]
        _write(frame.with_columns(missing).select(schema.names).to_arrow().cast(schema), root / name)


def ensure_warehouse(root: Path, kept: int, iterations: int) -> float:
    """Build the warehouse unless the one in `root` was built with these settings; seconds spent."""
    stamp = root / "_bench.json"
    wanted = {"kept": kept, "iterations": iterations, "version": GENERATOR_VERSION}
    if stamp.exists() and json.loads(stamp.read_text()) == wanted:
        return 0.0
    started = time.perf_counter()
    build_warehouse(root, kept, iterations)
    stamp.write_text(json.dumps(wanted))
    return time.perf_counter() - started


# The same questions as Polars lazy queries ---------------------------------------------------------------
def _scan(root: Path, table: str) -> pl.LazyFrame:
    return pl.scan_parquet(root / table / "**" / "*.parquet")


def _meets(k: float) -> pl.Expr:
    return pl.col("score") >= k if k == int(k) else pl.col("expected_score") >= k


def polars_candidates(root: Path) -> pl.LazyFrame:
    scores = _scan(root, "scores").filter(pl.col("status") == "ok")
    augmentations = _scan(root, "augmentations")
    segments = _scan(root, "segments")
    return (
        scores.join(augmentations, on="augmentation_id", suffix="_a")
        .join(segments, left_on="segment_id_a", right_on="segment_id", suffix="_s")
        .select(
            pl.col("iteration_a").alias("iteration"),
            pl.col("segment_id_a").alias("segment_id"),
            "doc_id",
            "url",
            "source",
            "header_path",
            pl.col("text").alias("output"),
            pl.col("n_words").alias("output_words"),
            "augmentation_id",
            "instruction",
            "instruction_words",
            pl.col("model_a").alias("augment_model"),
            pl.col("prompt_version_a").alias("augment_prompt_version"),
            pl.col("params_a").alias("augment_params"),
            "score_id",
            "mode",
            "score",
            "expected_score",
            "probs",
            "parse_status",
            pl.col("model").alias("score_model"),
            pl.col("prompt_version").alias("score_prompt_version"),
            pl.col("params").alias("score_params"),
        )
    )


def polars_curated(root: Path, iteration: int, k: float) -> pl.LazyFrame:
    return polars_candidates(root).filter((pl.col("iteration") == iteration) & _meets(k))


def polars_funnel(root: Path) -> pl.LazyFrame:
    segments = _scan(root, "segments")
    language = (
        pl.col("reasons")
        .list.eval(pl.element().str.starts_with("lang:") | (pl.element() == "low_lang_score"))
        .list.any()
    )
    quality = pl.col("reasons").list.eval(pl.element() != "duplicate").list.any()
    stage = (
        pl.when(language).then(pl.lit("language"))
        .when(quality).then(pl.lit("quality"))
        .when("is_duplicate").then(pl.lit("dedup"))
        .otherwise(pl.lit("kept"))
    )  # fmt: skip
    documents, rejects = _scan(root, "documents"), _scan(root, "rejects")
    counts = pl.concat(
        [
            documents.select(
                documents=pl.len(), no_text=(pl.col("status") == "no_text").sum().cast(pl.UInt32)
            ),
            rejects.select(
                rejects=pl.len(),
                **{s: (pl.col("stage") == s).sum().cast(pl.UInt32) for s in ("read", "decode", "extract")},
            ),
            segments.select(
                segments=pl.len(),
                **{s: (stage == s).sum().cast(pl.UInt32) for s in ("language", "quality", "dedup", "kept")},
            ),
        ],
        how="horizontal",
    )
    return counts.select(
        pl.concat_list(
            pl.col("documents") + pl.col("rejects"),
            "read",
            "decode",
            "extract",
            "documents",
            "no_text",
            "segments",
            "language",
            "quality",
            "dedup",
            "kept",
        ).alias("n")
    ).explode("n")


def polars_funnel_reasons(root: Path) -> pl.LazyFrame:
    rejects = (
        _scan(root, "rejects")
        .group_by(kind=pl.lit("reject"), reason=pl.format("{}:{}", "stage", "reason"))
        .len("n")
    )
    segments = (
        _scan(root, "segments").select(pl.col("reasons").explode().alias("reason")).drop_nulls()
        .group_by(kind=pl.lit("segment"), reason="reason").len("n")
    )  # fmt: skip
    return pl.concat([rejects, segments]).sort(["kind", "n", "reason"], descending=[False, True, False])


def polars_score_histogram(root: Path) -> pl.LazyFrame:
    keys = ["iteration", "model", "prompt_version", "mode"]
    return (
        _scan(root, "scores").filter(pl.col("status") == "ok")
        .group_by([*keys, "score"]).len("n")
        .with_columns(share=pl.col("n") / pl.col("n").sum().over(keys))
        .sort([*keys, "score"])
    )  # fmt: skip


def polars_iteration_diff(root: Path, t: int, k: float) -> pl.LazyFrame:
    scored = polars_candidates(root).select(
        "segment_id", "iteration", "mode", "instruction", "score", "expected_score", curated=_meets(k)
    )
    before = scored.filter(pl.col("iteration") == t).drop("iteration")
    after = scored.filter(pl.col("iteration") == t + 1).drop("iteration")
    joined = before.join(after, on=["segment_id", "mode"], suffix="_after")
    changed = (pl.col("score") != pl.col("score_after")).fill_null(
        pl.col("score").is_null() != pl.col("score_after").is_null()
    ) | (pl.col("curated") != pl.col("curated_after")).fill_null(
        pl.col("curated").is_null() != pl.col("curated_after").is_null()
    )
    return joined.filter(changed)


def polars_duplicate_clusters(root: Path) -> pl.LazyFrame:
    return (
        _scan(root, "segments").filter(pl.col("dup_cluster").is_not_null())
        .select(
            "dup_cluster", "segment_id", is_representative=pl.col("segment_id") == pl.col("dup_cluster"),
            keep="keep", is_duplicate="is_duplicate", cluster_size=pl.len().over("dup_cluster"),
            url="url", header_path="header_path", text="text",
        )
        .sort(["dup_cluster", "is_representative", "segment_id"], descending=[False, True, False])
    )  # fmt: skip


def polars_pairs(root: Path, iteration: int, k: float, mode: str) -> pl.LazyFrame:
    seeds = _scan(root, "seeds").select(
        data=pl.lit("seed"),
        instruction_words=pl.col("instruction").str.count_matches(WORD).cast(pl.Int32),
        output_words=pl.col("output").str.count_matches(WORD).cast(pl.Int32),
    )
    augmented = (
        _scan(root, "augmentations").filter((pl.col("iteration") == iteration) & (pl.col("status") == "ok"))
        .join(_scan(root, "segments").select("segment_id", "n_words"), on="segment_id")
        .select(data=pl.lit("augmented"), instruction_words="instruction_words", output_words="n_words")
    )  # fmt: skip
    curated = (
        polars_curated(root, iteration, k).filter(pl.col("mode") == mode)
        .sort(["expected_score", "score_id"], descending=[True, False])
        .unique("segment_id", keep="first")
        .select(
            data=pl.lit("curated"), instruction_words="instruction_words", output_words="output_words",
        )
    )  # fmt: skip
    return pl.concat([seeds, augmented, curated])


def polars_data_statistics(root: Path, iteration: int, mode: str) -> pl.LazyFrame:
    a4 = polars_pairs(root, iteration, 4, mode).with_columns(
        data=pl.when(pl.col("data") == "curated").then(pl.lit("A_4")).otherwise("data")
    )
    a5 = polars_pairs(root, iteration, 5, mode).filter(pl.col("data") == "curated")
    lengths = pl.concat([a4, a5.with_columns(data=pl.lit("A_5"))])
    steps = pl.LazyFrame({"step": [1, 2, 3, 4], "data": ["seed", "augmented", "A_4", "A_5"]})
    stats = lengths.group_by("data").agg(
        n=pl.len(),
        instruction_words_mean=pl.col("instruction_words").mean().round(1),
        instruction_words_std=pl.col("instruction_words").std().round(1),
        output_words_mean=pl.col("output_words").mean().round(1),
        output_words_std=pl.col("output_words").std().round(1),
    )
    return steps.join(stats, on="data", how="left").with_columns(pl.col("n").fill_null(0)).sort("step")


# The run ------------------------------------------------------------------------------------------------
def cases(root: Path) -> list[tuple[str, str, Callable[[], pl.LazyFrame], str]]:
    """(name, SQL, Polars query, checksum column)."""
    return [
        ("candidates", "SELECT * FROM candidates", lambda: polars_candidates(root), "expected_score"),
        ("curated(1, 4.5)", "SELECT * FROM curated(1, 4.5)", lambda: polars_curated(root, 1, 4.5),
         "expected_score"),
        ("funnel", "SELECT * FROM funnel", lambda: polars_funnel(root), "n"),
        ("funnel_reasons", "SELECT * FROM funnel_reasons", lambda: polars_funnel_reasons(root), "n"),
        ("score_histogram", "SELECT * FROM score_histogram", lambda: polars_score_histogram(root), "n"),
        ("iteration_diff(0, 4)", "SELECT * FROM iteration_diff(0, 4)",
         lambda: polars_iteration_diff(root, 0, 4), "expected_score_after"),
        ("duplicate_clusters", "SELECT * FROM duplicate_clusters", lambda: polars_duplicate_clusters(root),
         "cluster_size"),
        ("data_statistics(1, 'direct')", "SELECT * FROM data_statistics(1, 'direct')",
         lambda: polars_data_statistics(root, 1, "direct"), "output_words_mean"),
    ]  # fmt: skip


def _median_seconds(run: Callable[[], object], repeats: int) -> tuple[float, object]:
    result = run()  # warm-up: the file system cache and the query plans
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - started)
    return median(times), result


def _checksum(frame: pl.DataFrame, column: str) -> tuple[int, float]:
    return frame.height, round(float(frame[column].cast(pl.Float64).sum() or 0), 6)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--kept", type=int, default=1_000_000, help="kept segments, each scored per iteration"
    )
    parser.add_argument("--iterations", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--dir", type=Path, default=Path("/tmp/humpback-bench-views"))
    parser.add_argument("--only", help="run only the views whose name contains this")
    args = parser.parse_args()

    built = ensure_warehouse(args.dir, args.kept, args.iterations)
    con = connect_views(args.dir)
    sizes = {t: con.sql(f"SELECT count(*) FROM {t}").fetchall()[0][0] for t in ("segments", "scores")}
    print(
        f"warehouse {args.dir}: {sizes['segments']:,} segments, {sizes['scores']:,} scores"
        f" ({f'built in {built:.0f} s' if built else 'reused'}); {os.cpu_count()} cores,"
        f" DuckDB threads {con.sql('SELECT current_setting(' + repr('threads') + ')').fetchall()[0][0]},"
        f" Polars threads {pl.thread_pool_size()}; median of {args.repeats} runs after a warm-up\n"
    )
    header = f"{'view':<30}{'rows':>11}{'duckdb s':>10}{'polars s':>10}{'ratio':>8}  verdict"
    print(header)
    print("-" * len(header))
    failures = 0
    for name, query, polars_query, column in cases(args.dir):
        if args.only and args.only not in name:
            continue
        duck_seconds, duck = _median_seconds(
            lambda q=query: pl.from_arrow(con.sql(q).to_arrow_table()), args.repeats
        )
        polars_seconds, frame = _median_seconds(lambda p=polars_query: p().collect(), args.repeats)
        same = _checksum(duck, column) == _checksum(frame, column)
        ratio = duck_seconds / polars_seconds
        misses = [
            *([f"over {MAX_SECONDS:g} s"] if duck_seconds >= MAX_SECONDS else []),
            *([f"over {MAX_RATIO:g}x"] if ratio > MAX_RATIO else []),
        ]
        ok = not misses and same
        failures += not ok
        verdict = "PASS" if ok else f"MISS ({', '.join(misses)})" if misses else "MISS"
        if not same:
            verdict += f" (results differ: {_checksum(duck, column)} vs {_checksum(frame, column)})"
        times = f"{duck_seconds:>10.3f}{polars_seconds:>10.3f}{ratio:>8.2f}"
        print(f"{name:<30}{duck.height:>11,}{times}  {verdict}")
    print(f"\ntargets: every view under {MAX_SECONDS:g} s and within {MAX_RATIO:g}x of Polars;"
          f" {'all met' if not failures else f'{failures} missed'}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
