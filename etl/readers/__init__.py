"""Readers: turn each kind of corpus file into a stream of RawRecord (or Failure) rows.

Every reader streams: it holds one record at a time, never a whole file.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from etl.readers.html_files import read_html_file
from etl.readers.jsonl import read_jsonl
from etl.readers.parquet import read_parquet
from etl.readers.warc import read_warc
from etl.records import Failure, RawRecord, ReadStats
from etl.settings import ReadSettings

READERS = {
    "warc": read_warc,
    "html": read_html_file,
    "jsonl": read_jsonl,
    "parquet": read_parquet,
}

_SUFFIXES = {
    ".warc": "warc",
    ".warc.gz": "warc",
    ".html": "html",
    ".htm": "html",
    ".html.gz": "html",
    ".htm.gz": "html",
    ".jsonl": "jsonl",
    ".jsonl.gz": "jsonl",
    ".ndjson": "jsonl",
    ".json.gz": "jsonl",
    ".parquet": "parquet",
}


def input_kind(path: Path) -> str | None:
    name = path.name.lower()
    for suffix, kind in sorted(_SUFFIXES.items(), key=lambda kv: -len(kv[0])):
        if name.endswith(suffix):
            return kind
    return None


def discover_inputs(paths: list[Path], stats: ReadStats) -> list[tuple[str, Path]]:
    """Expand folders (recursively, sorted) into (kind, file) pairs; unknown files, and files given
    twice, are counted and passed over."""
    found: list[tuple[str, Path]] = []
    seen: set[Path] = set()
    for path in paths:
        if not path.exists():
            raise FileNotFoundError(f"input not found: {path}")
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for file in files:
            kind = input_kind(file)
            if kind is None:
                stats.skipped["file_of_unknown_kind"] += 1
            elif file.resolve() in seen:  # given twice (a folder and a file in it): read once
                stats.skipped["file_given_twice"] += 1
            else:
                seen.add(file.resolve())
                found.append((kind, file))
    return found


def iter_records(
    inputs: list[tuple[str, Path]], settings: ReadSettings, stats: ReadStats
) -> Iterator[RawRecord | Failure]:
    for kind, path in inputs:
        start = stats.file_start = stats.bytes_done
        try:
            yield from READERS[kind](path, settings, stats)
        except OSError as exc:  # unreadable file: one reject for what is left of it
            yield Failure("read", "unreadable_file", f"{type(exc).__name__}: {exc}", str(path))
        stats.bytes_done = start + path.stat().st_size
