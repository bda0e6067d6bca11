"""A saved page on disk (.html, .htm, optionally gzipped) is one record."""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from pathlib import Path

from etl.records import Failure, RawRecord, ReadStats
from etl.settings import ReadSettings


def read_html_file(path: Path, settings: ReadSettings, stats: ReadStats) -> Iterator[RawRecord | Failure]:
    source = str(path)
    url = path.resolve().as_uri()
    try:
        if path.name.lower().endswith(".gz"):
            with gzip.open(path, "rb") as fh:
                payload = fh.read(settings.max_page_bytes + 1)
        else:
            with open(path, "rb") as fh:
                payload = fh.read(settings.max_page_bytes + 1)
    except (OSError, EOFError) as exc:
        yield Failure("read", "unreadable_file", f"{type(exc).__name__}: {exc}", source, url)
        return
    if len(payload) > settings.max_page_bytes:
        detail = f"page over max_page_bytes={settings.max_page_bytes}"
        yield Failure("read", "page_too_large", detail, source, url, None, path.stat().st_size)
        return
    yield RawRecord(source=source, url=url, payload=payload)
