"""Benchmark: how many planted near-copies the ETL's corpus-wide dedup catches, and how fast it runs.

Real article pages (the English main-content pages of `../shared/data/html/mozilla_readability`,
Lorem ipsum placeholders left out) go into one JSONL corpus three times: as they are, as an exact
copy under another URL, and as a near-copy with a few words changed (`--changes`, default 3 per page,
each a word of the page swapped for another word of it, at positions drawn from a seeded generator).
The whole ETL runs on the corpus (`run_etl`, local engine), and for every segment of an original
page the benchmark looks up its counterpart in each copy (same page, same position):

* an **exact** pair has the same text, a **near** pair differs by the changed words;
* a pair is **caught** when both segments land in one duplicate cluster; a cluster none of whose
  members survives (all marked `is_duplicate`) is counted apart: it must never happen.

Only segments with at least `dedup.ngram` words can have a MinHash signature, and only pairs where
the original segment is kept by the other filters are counted (a dropped segment needs no dedup). A
changed word can move segment boundaries, so a near-copy's changed segment is paired with the
original segment of its page that it most resembles (word sets, Jaccard at least 0.5).

    .venv/bin/python -m benchmarks.dedup_recall                       # default settings
    .venv/bin/python -m benchmarks.dedup_recall --set dedup.threshold=0.7 --set dedup.ngram=3
"""

from __future__ import annotations

import argparse
import json
import random
import re
import tempfile
from pathlib import Path

import duckdb
import polars as pl
from etl_fidelity import readability_pages
from lxml import html as lxml_html

from benchmarks.harness import timed
from etl.pipeline import run_etl
from etl.settings import Settings, load_settings

TARGET_NEAR = 0.95
_WORD = re.compile(r"[A-Za-z]{4,}")


def near_copy(page_html: str, changes: int, rng: random.Random) -> str:
    """The page with `changes` words of its text nodes each replaced by another word of the page."""
    root = lxml_html.fromstring(f"<div>{page_html}</div>")
    nodes = [
        (node, attribute)
        for node in root.iter()
        if isinstance(node.tag, str)
        for attribute in ("text", "tail")
        if _WORD.search(getattr(node, attribute) or "")
    ]
    words = [w for node, attribute in nodes for w in _WORD.findall(getattr(node, attribute))]
    for _ in range(changes):
        node, attribute = rng.choice(nodes)
        text = getattr(node, attribute)
        matches = list(_WORD.finditer(text))
        match = rng.choice(matches)
        replacement = rng.choice([w for w in words if w != match.group()] or ["changed"])
        setattr(node, attribute, text[: match.start()] + replacement + text[match.end() :])
    inner = "".join(lxml_html.tostring(child, encoding="unicode") for child in root)
    return (root.text or "") + inner


def build_corpus(path: Path, changes: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    names = []
    with path.open("w") as out:
        for page in readability_pages():
            names.append(page.name)
            for copy, text in (
                ("original", page.expected),
                ("exact", page.expected),
                ("near", near_copy(page.expected, changes, rng)),
            ):
                out.write(
                    json.dumps({"url": f"https://bench.example/{copy}/{page.name}", "html": text}) + "\n"
                )
    return names


def measure(settings: Settings, changes: int = 3, seed: int = 0, workers: int = 2) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "corpus.jsonl"
        build_corpus(corpus, changes, seed)
        seconds, _ = timed(
            lambda: run_etl([corpus], Path(tmp) / "wh", settings, workers=workers, show_progress=False)
        )
        con = duckdb.connect()
        segments = pl.from_arrow(
            con.sql(
                f"SELECT url, position, text, n_words, dup_cluster, is_duplicate, reasons "
                f"FROM read_parquet('{tmp}/wh/segments/*.parquet')"
            ).to_arrow_table()
        )
        con.close()
    parts = segments.with_columns(
        copy=pl.col("url").str.extract(r"example/(\w+)/"),
        page=pl.col("url").str.extract(r"example/\w+/(.+)$"),
    )
    original = parts.filter(
        pl.col("copy") == "original",
        pl.col("n_words") >= settings.dedup.ngram,
        pl.col("reasons").list.set_difference(["duplicate"]).list.len() == 0,
    )
    figures: dict[str, float] = {"seconds": seconds}
    words = pl.col("text").str.to_lowercase().str.extract_all(r"\w+").list.unique()
    for kind in ("exact", "near"):
        copies = parts.filter(pl.col("copy") == kind)
        if kind == "exact":
            pairs = original.join(copies, on=["page", "position"], suffix="_copy")
        else:
            # a changed word can move the segment boundaries (a header that reads as text): pair each
            # changed segment of the near-copy with the original segment of its page it most resembles
            pairs = (
                original.with_columns(words=words)
                .join(copies.with_columns(words=words), on="page", suffix="_copy")
                .filter(pl.col("text") != pl.col("text_copy"))
                .with_columns(
                    similarity=pl.col("words").list.set_intersection("words_copy").list.len()
                    / pl.col("words").list.set_union("words_copy").list.len()
                )
                .filter(pl.col("similarity") >= 0.5)
                .sort("similarity", descending=True)
                .unique(["page", "position_copy"], keep="first", maintain_order=True)
                .join(
                    copies.select("page", "text"), on=["page", "text"], how="anti"
                )  # not a moved exact copy
            )
        caught = pairs.filter(
            pl.col("dup_cluster").is_not_null() & (pl.col("dup_cluster") == pl.col("dup_cluster_copy"))
        )
        figures[f"{kind}_pairs"] = pairs.height
        figures[f"{kind}_caught"] = caught.height
    figures["clusters_without_survivor"] = (
        parts.filter(pl.col("dup_cluster").is_not_null())
        .group_by("dup_cluster")
        .agg(survivors=(~pl.col("is_duplicate")).sum())
        .filter(pl.col("survivors") != 1)
        .height
    )
    # false positives: different pages' originals clustered together
    originals = parts.filter(pl.col("copy") == "original", pl.col("dup_cluster").is_not_null())
    figures["cross_page_clusters"] = (
        originals.group_by("dup_cluster").agg(pl.col("page").n_unique()).filter(pl.col("page") > 1).height
    )
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--changes", type=int, default=3, help="words changed per near-copy page")
    parser.add_argument("--seeds", type=int, default=3, help="corpora drawn, each with its own changes")
    parser.add_argument("--set", action="append", default=[], help="a setting, as section.key=value")
    args = parser.parse_args()
    settings = load_settings(None, args.set)
    print(f"dedup settings: {settings.dedup}")
    runs = [measure(settings, args.changes, seed) for seed in range(args.seeds)]
    for seed, f in enumerate(runs):
        print(
            f"seed {seed}: near {f['near_caught']:.0f}/{f['near_pairs']:.0f}, exact {f['exact_caught']:.0f}/"
            f"{f['exact_pairs']:.0f}, clusters without one survivor {f['clusters_without_survivor']:.0f}, "
            f"pages clustered together {f['cross_page_clusters']:.0f}, {f['seconds']:.1f} s"
        )
    near = sum(f["near_caught"] for f in runs) / max(sum(f["near_pairs"] for f in runs), 1)
    exact = sum(f["exact_caught"] for f in runs) / max(sum(f["exact_pairs"] for f in runs), 1)
    seconds = sorted(f["seconds"] for f in runs)[len(runs) // 2]
    print(
        f"near-copy recall {near:.3f} (target >= {TARGET_NEAR}), exact {exact:.3f} (target 1.0), "
        f"ETL median {seconds:.1f} s"
    )


if __name__ == "__main__":
    main()
