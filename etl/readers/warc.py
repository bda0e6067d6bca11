"""WARC reader (gzip or plain) on FastWARC.

Only response records carrying HTML become records; every other record type, and non-HTML
responses, are counted in `stats.skipped`. Damage is handled record by record: a gzip member that
fails to decompress becomes a reject and reading resumes at the next gzip member, and a record cut
short by the end of the file becomes a reject instead of a half page. Only FastWARC's reads of the
file are taken for damage; an exception raised by our own handling of a record propagates.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from pathlib import Path

from fastwarc.warc import ArchiveIterator, WarcRecordType

from etl.records import Failure, RawRecord, ReadStats
from etl.settings import ReadSettings

_GZIP_MAGIC = b"\x1f\x8b\x08"
_HTML_TYPES = ("text/html", "application/xhtml+xml", "")  # "": no Content-Type given


def _is_gzip(path: Path) -> bool:
    with open(path, "rb") as fh:
        return fh.read(3) == _GZIP_MAGIC


def _member_is_complete(path: Path, offset: int) -> bool:
    """Whether the gzip member starting at `offset` decompresses to its end-of-stream marker."""
    decompressor = zlib.decompressobj(wbits=31)
    with open(path, "rb") as fh:
        fh.seek(offset)
        try:
            while chunk := fh.read(1 << 20):
                decompressor.decompress(chunk, 0)
                if decompressor.eof:
                    return True
        except zlib.error:
            return False
    return decompressor.eof


def _next_member(path: Path, after: int) -> int | None:
    """Offset of the first gzip member header strictly after `after`."""
    with open(path, "rb") as fh:
        fh.seek(after + 1)
        pos = after + 1
        tail = b""
        while chunk := fh.read(1 << 20):
            data = tail + chunk
            found = data.find(_GZIP_MAGIC)
            if found >= 0:
                return pos - len(tail) + found
            tail = data[-2:]
            pos += len(chunk)
    return None


class _StreamError(Exception):
    """FastWARC could not read the file (parse or decompression error): damage in the input."""


def _records(fh) -> Iterator:
    """FastWARC's records, its errors raised as _StreamError. A generator wrapper sees only the
    iterator's own errors: what the caller's loop body raises never passes through here."""
    try:
        yield from ArchiveIterator(fh, parse_http=True, quirks_mode=True)
    except Exception as exc:
        raise _StreamError(f"{type(exc).__name__}: {exc}") from exc


def _to_record(record, path: Path, settings: ReadSettings, stats: ReadStats) -> RawRecord | Failure | None:
    rtype = record.record_type
    if rtype != WarcRecordType.response:
        stats.skipped[f"warc_{rtype!s}_record"] += 1
        return None
    content_type = (record.http_content_type or "").lower()
    if not record.is_http or content_type.split(";")[0].strip() not in _HTML_TYPES:
        stats.skipped["warc_non_html_response"] += 1
        return None
    headers = record.headers
    source = f"{path}@{record.stream_pos}"
    url = headers.get("WARC-Target-URI")
    record_id = headers.get("WARC-Record-ID")
    size = settings.max_page_bytes + 1
    try:
        payload = record.reader.read(size)  # decompresses the rest of the record from the file
    except (OSError, EOFError, zlib.error) as exc:
        raise _StreamError(f"{type(exc).__name__}: {exc}") from exc
    if len(payload) > settings.max_page_bytes:
        return Failure(
            "read",
            "page_too_large",
            f"payload over max_page_bytes={settings.max_page_bytes}",
            source,
            url,
            record_id,
            record.content_length,
        )
    return RawRecord(
        source=source,
        url=url,
        payload=payload,
        warc_record_id=record_id,
        capture_date=headers.get("WARC-Date"),
        content_type=record.http_content_type,
        http_charset=record.http_charset,
    )


def read_warc(path: Path, settings: ReadSettings, stats: ReadStats) -> Iterator[RawRecord | Failure]:
    gzipped = _is_gzip(path)
    offset: int | None = 0
    damage: tuple[int, str] | None = None  # (offset of the last good record, error) of unreported damage
    while offset is not None:
        start, offset = offset, None
        pending: RawRecord | Failure | None = None  # held back until we know its member is whole
        pending_pos = last_pos = start
        with open(path, "rb") as fh:
            fh.seek(start)
            # Damage is only what FastWARC raises reading the file (_StreamError); ours propagates.
            try:
                for record in _records(fh):
                    last_pos = record.stream_pos  # FastWARC positions are absolute
                    stats.at(last_pos)
                    if damage is not None:  # reading has resumed: report the span it skipped
                        yield _damage(path, damage, str(last_pos))
                        damage = None
                    row = _to_record(record, path, settings, stats)
                    if row is None:
                        continue
                    if pending is not None:
                        yield pending
                    pending, pending_pos = row, last_pos
            except _StreamError as exc:
                # Damaged data after the last good record: resume at the next gzip member, and
                # report the skipped span once reading resumes (or the file ends).
                if damage is None:
                    damage = (last_pos, str(exc))
                offset = _next_member(path, last_pos) if gzipped else None
        if isinstance(pending, RawRecord) and gzipped and not _member_is_complete(path, pending_pos):
            pending = Failure(
                "read",
                "truncated_record",
                "the file ends inside this record's gzip member",
                pending.source,
                pending.url,
                pending.warc_record_id,
                len(pending.payload),
            )
        if pending is not None:
            yield pending
    if damage is not None:
        yield _damage(path, damage, "end")


def _damage(path: Path, damage: tuple[int, str], resumed_at: str) -> Failure:
    after, error = damage
    detail = f"{error}; the records after offset {after} up to {resumed_at} could not be read"
    return Failure("read", "malformed_warc", detail, f"{path}@{after}..{resumed_at}")
