"""Benchmark: does the ETL keep the text Humpback wants and drop the site furniture it does not?

A labelled set, built at run time from real pages:

* **keep**: the main content of the English pages of `../shared/data/html/mozilla_readability`
  (`expected.html.gz`, what a reader sees, run through the ETL as it is, a fragment; pages of Lorem
  ipsum placeholder text are left out), and the how-to pages of `benchmarks/fidelity_pages/` (a
  recipe, steps that start with "Next", a numbered list, a code answer): text an assistant would
  answer with. A noise rule that fires on one of their segments is a false positive;
* **drop**: site furniture cut from the same pages as served (`source.html.gz`): navigation, cookie
  and consent banners, share bars, comment sections, link lists, footers. Each element is a segment
  of its own, one line per link or block, as it would reach the rules had the extractor kept it.

Every segment goes through the ETL's own code (decode, trafilatura, segmentation, language, quality
signals, `filter_reasons`). The pages are split by a hash of their name: rules were tuned on `tune`;
the figures are reported on `report` (default) or `all`. It prints, per rule and overall, the
segments and words of each class it drops; the share of furniture dropped; and the word recall of the
extracted (and of the kept) text of each source page against its `expected.html`.

    .venv/bin/python -m benchmarks.etl_fidelity                 # report split
    .venv/bin/python -m benchmarks.etl_fidelity --split all --show 5   # and 5 examples per rule
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import re
import sys
import time
from collections import Counter
from dataclasses import dataclass

import polars as pl
from lxml import etree
from lxml import html as lxml_html

from benchmarks.harness import ROOT as REPO  # and the repository on the import path
from benchmarks.harness import SHARED_DATA as DATA
from etl.finalize import filter_reasons
from etl.records import RawRecord
from etl.settings import Settings
from etl.worker import _page, segment_columns

READABILITY = DATA / "html" / "mozilla_readability" / "test-pages"
HOW_TO = REPO / "benchmarks" / "fidelity_pages"
LENGTH_RULES = ("too_short_chars", "too_long_chars", "too_few_words", "too_many_words")
TARGET_CLEAN_WORDS_DROPPED = 0.03  # at most, among keep segments within the length bounds
TARGET_FURNITURE_DROPPED = 0.90  # at least

# Site furniture: elements by tag, or by a class or id that names what they are.
_FURNITURE_TAGS = ("nav", "footer", "aside")
_FURNITURE_NAMES = re.compile(
    r"cookie|consent|gdpr|share|sharing|social|comment|related|breadcrumb|menu|navbar|navigation|"
    r"footer|sidebar|newsletter|subscribe|signup|promo|trending|popular|tags",
    re.IGNORECASE,
)
_BLOCKS = {"li", "p", "div", "a", "h1", "h2", "h3", "h4", "h5", "h6", "br", "tr", "td", "button", "section"}
_WORDS = re.compile(r"\w+")


@dataclass
class Page:
    name: str
    split: str
    expected: str | None  # the readability page's main content, as HTML
    source: str | None  # the page as served


def split_of(name: str) -> str:
    return "tune" if hashlib.sha256(name.encode()).digest()[0] % 2 == 0 else "report"


def readability_pages(english_only: bool = True) -> list[Page]:
    pages = []
    for folder in sorted(READABILITY.iterdir()):
        meta_path = folder / "expected-metadata.json"
        if not (folder / "expected.html.gz").is_file():
            continue
        lang = (json.loads(meta_path.read_text()).get("lang") or "") if meta_path.is_file() else ""
        if english_only and not lang.lower().startswith("en"):
            continue
        expected = gzip.decompress((folder / "expected.html.gz").read_bytes()).decode("utf-8")
        if "lorem ipsum" in expected.lower():
            continue  # placeholder text of readability's own test pages: neither label fits it
        source = gzip.decompress((folder / "source.html.gz").read_bytes()).decode("utf-8", "replace")
        pages.append(Page(folder.name, split_of(folder.name), expected, source))
    return pages


def how_to_pages() -> list[Page]:
    return [Page(p.stem, "how-to", None, p.read_text()) for p in sorted(HOW_TO.glob("*.html"))]


def furniture_texts(source: str, expected_text: str) -> list[str]:
    """The outermost furniture elements of a page as served, each as lines of text; elements whose
    text is mostly the page's main content (a header holding the title, an aside quoting it) are left
    out, as are those of fewer than 3 words."""
    root = lxml_html.fromstring(source)
    for bad in root.xpath("//script|//style|//noscript|//template|//svg"):
        bad.drop_tree()
    expected_words = set(_WORDS.findall(expected_text.lower()))
    found = []
    for element in root.iter():
        if not isinstance(element.tag, str):
            continue
        names = f"{element.get('class', '')} {element.get('id', '')} {element.get('role', '')}"
        if element.tag not in _FURNITURE_TAGS and not _FURNITURE_NAMES.search(names):
            continue
        if any(a in found for a in element.iterancestors()):
            continue
        found.append(element)
    texts = []
    for element in found:
        for node in element.iter():
            if isinstance(node.tag, str) and node.tag in _BLOCKS:
                node.tail = "\n" + (node.tail or "")
        raw = etree.tostring(element, method="text", encoding="unicode")
        lines = [" ".join(line.split()) for line in raw.split("\n")]
        text = "\n".join(line for line in lines if line)
        words = _WORDS.findall(text.lower())
        if len(words) < 3:
            continue
        if sum(w in expected_words for w in words) / len(words) > 0.6 and len(words) > 40:
            continue  # main content in a furniture-looking wrapper
        texts.append(text)
    return list(dict.fromkeys(texts))


def _html_text(fragment: str) -> str:
    return " ".join(lxml_html.fromstring(f"<div>{fragment}</div>").text_content().split())


def run_pages(named: list[tuple[str, str]], settings: Settings) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(documents, segments with `reasons`) of HTML pages through the ETL's own worker code."""
    docs: list[dict] = []
    rows: list[tuple] = []
    for name, text in named:
        record = RawRecord(source=name, url=f"https://bench.example/{name}", payload=text.encode("utf-8"))
        failure = _page(record, settings, docs, rows)
        if failure is not None:
            docs.append(
                {"doc_id": record.doc_id, "url": record.url, "status": failure.reason, "n_segments": 0}
            )
    frame = pl.from_arrow(segment_columns(rows, settings)) if rows else None
    segments = (
        frame.with_columns(filter_reasons(settings))
        if frame is not None
        else pl.DataFrame(schema={"url": pl.String, "text": pl.String, "reasons": pl.List(pl.String)})
    )
    return pl.DataFrame(docs).select("url", "status", "n_segments"), segments


def furniture_segments(texts: list[tuple[str, str]], settings: Settings) -> pl.DataFrame:
    """Furniture texts as segments with an empty header, through the signals and rules."""
    rows = [
        (f"f{i}", f"doc-{name}", f"https://bench.example/{name}", name, "", 0, "", i, text)
        for i, (name, text) in enumerate(texts)
    ]
    return pl.from_arrow(segment_columns(rows, settings)).with_columns(filter_reasons(settings))


def label(segments: pl.DataFrame, settings: Settings) -> pl.DataFrame:
    """Adds `in_bounds` (passes the length rules), `noise` (the reasons other than length bounds) and
    `dropped` (any reason)."""
    q = settings.quality
    return segments.with_columns(
        in_bounds=pl.col("n_chars").is_between(q.min_chars, q.max_chars)
        & pl.col("n_words").is_between(q.min_words, q.max_words),
        noise=pl.col("reasons").list.filter(~pl.element().is_in(LENGTH_RULES)),
        dropped=pl.col("reasons").list.len() > 0,
    )


def word_recall(expected: str, got: str) -> float:
    want = Counter(_WORDS.findall(expected.lower()))
    have = Counter(_WORDS.findall(got.lower()))
    total = sum(want.values())
    return sum(min(n, have[w]) for w, n in want.items()) / total if total else 1.0


@dataclass
class Figures:
    keep_segments: int
    keep_words: int
    clean_words_dropped: float  # keep segments in bounds: share of words the noise rules drop
    clean_segments_dropped: int
    how_to_kept: int  # how-to pages with every content segment kept
    how_to_pages: int
    furniture: int
    furniture_dropped: float  # share of furniture segments dropped, for any reason
    furniture_in_bounds: int
    furniture_in_bounds_dropped: float
    fragments_with_text: int
    fragments: int
    per_rule: pl.DataFrame


def measure(pages: list[Page], settings: Settings) -> tuple[Figures, pl.DataFrame, pl.DataFrame]:
    fragments = [(p.name, p.expected) for p in pages if p.expected is not None]
    how_to = [(p.name, p.source) for p in pages if p.expected is None and p.source is not None]
    frag_docs, frag_segments = run_pages(fragments, settings)
    _, how_segments = run_pages(how_to, settings)
    keep = label(pl.concat([frag_segments, how_segments], how="diagonal_relaxed"), settings)
    furniture = []
    for page in pages:
        if page.expected is not None and page.source is not None:
            text = _html_text(page.expected)
            furniture += [(page.name, t) for t in furniture_texts(page.source, text)]
    drop = label(furniture_segments(furniture, settings), settings)
    clean = keep.filter("in_bounds")
    clean_words = clean["n_words"].sum()
    noisy = clean.filter(pl.col("noise").list.len() > 0)
    # a how-to page is kept when none of its segments of 30 words or more is dropped
    how = label(how_segments, settings).filter(pl.col("n_words") >= settings.quality.min_words)
    pages_hit = set(how.filter("dropped")["url"].to_list())
    rules = sorted(
        set(keep["reasons"].explode().drop_nulls().to_list())
        | set(drop["reasons"].explode().drop_nulls().to_list())
    )

    def fired(frame: pl.DataFrame, rule: str) -> pl.DataFrame:
        return frame.filter(pl.col("reasons").list.contains(rule))

    per_rule = pl.DataFrame(
        [
            {
                "rule": rule,
                "keep_in_bounds_segments": fired(clean, rule).height,
                "keep_in_bounds_words": int(fired(clean, rule)["n_words"].sum()),
                "furniture_segments": fired(drop, rule).height,
                "furniture_only_reason": drop.filter(pl.col("reasons") == [rule]).height,
            }
            for rule in rules
        ],
        schema={
            "rule": pl.String,
            "keep_in_bounds_segments": pl.Int64,
            "keep_in_bounds_words": pl.Int64,
            "furniture_segments": pl.Int64,
            "furniture_only_reason": pl.Int64,
        },
    )
    in_bounds = drop.filter("in_bounds")
    figures = Figures(
        keep_segments=keep.height,
        keep_words=int(keep["n_words"].sum()),
        clean_words_dropped=float(noisy["n_words"].sum() / clean_words) if clean_words else 0.0,
        clean_segments_dropped=noisy.height,
        how_to_kept=len(how_to) - len(pages_hit),
        how_to_pages=len(how_to),
        furniture=drop.height,
        furniture_dropped=float(drop["dropped"].mean() or 0.0),
        furniture_in_bounds=in_bounds.height,
        furniture_in_bounds_dropped=float(in_bounds["dropped"].mean() or 0.0) if in_bounds.height else 0.0,
        fragments_with_text=frag_docs.filter(pl.col("n_segments") > 0).height,
        fragments=frag_docs.height,
        per_rule=per_rule,
    )
    return figures, keep, drop


def recalls(pages: list[Page], settings: Settings) -> tuple[float, float]:
    """Median word recall of each source page's extracted text, and of its kept text, against the
    words of its `expected.html`."""
    extracted, kept = [], []
    for page in pages:
        if page.expected is None or page.source is None:
            continue
        _, segments = run_pages([(page.name, page.source)], settings)
        expected = _html_text(page.expected)
        if segments.height == 0:
            extracted.append(0.0)
            kept.append(0.0)
            continue
        all_text = "\n".join(segments["header"].to_list() + segments["text"].to_list())
        ok = segments.filter(pl.col("reasons").list.len() == 0)
        kept_text = "\n".join(ok["header"].to_list() + ok["text"].to_list())
        extracted.append(word_recall(expected, all_text))
        kept.append(word_recall(expected, kept_text))
    return float(pl.Series(extracted).median() or 0.0), float(pl.Series(kept).median() or 0.0)


def select(split: str) -> list[Page]:
    pages = readability_pages()
    if split != "all":
        pages = [p for p in pages if p.split == split]
    return pages + how_to_pages()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--split", choices=("tune", "report", "all"), default="report")
    parser.add_argument("--show", type=int, default=0, help="print this many examples per rule and class")
    args = parser.parse_args()
    if not READABILITY.is_dir():
        sys.exit(f"the shared data is not at {DATA}")
    settings = Settings()
    pages = select(args.split)
    started = time.perf_counter()
    figures, keep, drop = measure(pages, settings)
    extracted, kept = recalls(pages, settings)
    seconds = time.perf_counter() - started
    english = sum(p.expected is not None for p in pages)
    print(f"split {args.split}: {english} English readability pages, {figures.how_to_pages} how-to pages")
    print(
        f"keep: {figures.keep_segments} segments, {figures.keep_words} words; furniture: {figures.furniture}"
    )
    with pl.Config(tbl_rows=40, tbl_width_chars=160, tbl_hide_dataframe_shape=True):
        print(figures.per_rule)
    print(
        f"clean segments in bounds: noise rules drop {figures.clean_segments_dropped} of "
        f"{keep.filter('in_bounds').height}, {figures.clean_words_dropped:.1%} of their words "
        f"(target <= {TARGET_CLEAN_WORDS_DROPPED:.0%})"
    )
    print(f"how-to pages with every content segment kept: {figures.how_to_kept}/{figures.how_to_pages}")
    print(
        f"furniture dropped: {figures.furniture_dropped:.1%} of {figures.furniture} "
        f"(target >= {TARGET_FURNITURE_DROPPED:.0%}); within the length bounds: "
        f"{figures.furniture_in_bounds_dropped:.1%} of {figures.furniture_in_bounds}"
    )
    print(f"fragments (expected.html as is) with text: {figures.fragments_with_text}/{figures.fragments}")
    print(f"word recall against expected.html, median: extracted {extracted:.3f}, kept {kept:.3f}")
    print(f"{seconds:.1f} s")
    if args.show:
        for name, frame, which in (
            (
                "keep, dropped by a noise rule",
                keep.filter("in_bounds", pl.col("noise").list.len() > 0),
                "noise",
            ),
            ("furniture, kept", drop.filter(~pl.col("dropped")), "reasons"),
        ):
            print(f"\n== {name}: {frame.height}")
            for row in frame.head(args.show).iter_rows(named=True):
                print(f"-- {row['url']} {row[which]}\n{row['text'][:500]}\n")


if __name__ == "__main__":
    main()
