"""JSONL (optionally gzipped): one page per line, the HTML in one column and the URL in another."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from common.jsonl import OK, read_lines
from etl.records import Failure, RawRecord, ReadStats
from etl.settings import ReadSettings

HTML_COLUMN_CANDIDATES = ("html", "content", "raw_content")


def html_column(columns: list[str], settings: ReadSettings) -> str | None:
    if settings.html_column:
        return settings.html_column if settings.html_column in columns else None
    return next((c for c in HTML_COLUMN_CANDIDATES if c in columns), None)


def _record(row: dict, source: str, settings: ReadSettings) -> RawRecord | Failure:
    column = html_column(list(row), settings)
    url = row.get(settings.url_column)
    url = str(url) if url is not None else None
    if column is None:
        wanted = settings.html_column or " or ".join(HTML_COLUMN_CANDIDATES)
        return Failure("read", "no_html_column", f"row has no {wanted} field", source, url)
    html = row[column]
    if not isinstance(html, str | bytes) or not html:
        return Failure("read", "empty_page", f"field {column!r} is empty or not text", source, url)
    payload = html.encode("utf-8", "surrogatepass") if isinstance(html, str) else html
    if len(payload) > settings.max_page_bytes:
        detail = f"page over max_page_bytes={settings.max_page_bytes}"
        return Failure("read", "page_too_large", detail, source, url, None, len(payload))
    # JSON text is already Unicode: declare it, so decoding does not guess.
    charset = "utf-8" if isinstance(html, str) else None
    return RawRecord(source=source, url=url, payload=payload, http_charset=charset)


def read_jsonl(path: Path, settings: ReadSettings, stats: ReadStats) -> Iterator[RawRecord | Failure]:
    for line in read_lines(path):
        stats.at(line.position)  # compressed position, for the progress bar
        source = f"{path}:{line.number}"
        if line.status != OK:  # not JSON, not UTF-8, or not an object
            yield Failure("read", "malformed_json", line.error, source)
            continue
        yield _record(line.record, source, settings)
