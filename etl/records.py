"""The rows that flow from the readers into the workers."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import xxhash


def content_id(*parts: str | bytes, size: int = 16) -> str:
    """Content-addressed id: XXH3-128 of the parts, NUL-separated, as `2 * size` hex digits.

    XXH3 rather than a cryptographic hash: ids need no protection against forgery, and hashing
    every page's bytes with blake2b cost a tenth of the main process's time.
    """
    h = xxhash.xxh3_128()
    for part in parts:
        h.update(part.encode("utf-8", "surrogatepass") if isinstance(part, str) else part)
        h.update(b"\0")
    return h.hexdigest()[: 2 * size]


@dataclass(slots=True)
class RawRecord:
    """One HTML page as read from the corpus, before decoding."""

    source: str  # input file and record: path@offset, path:line, path#row, or the path
    url: str | None
    payload: bytes
    warc_record_id: str | None = None
    capture_date: str | None = None
    content_type: str | None = None
    http_charset: str | None = None
    _doc_id: str | None = None  # cached: computed once, and sent to the worker with the record

    @property
    def doc_id(self) -> str:
        if self._doc_id is None:
            self._doc_id = content_id(self.url or "", self.payload)
        return self._doc_id


@dataclass(slots=True)
class Failure:
    """An input record or page that could not become a document."""

    stage: str  # read | decode | extract
    reason: str
    detail: str
    source: str
    url: str | None = None
    warc_record_id: str | None = None
    n_bytes: int | None = None

    @property
    def reject_id(self) -> str:
        return content_id(self.source, self.stage, self.reason)

    def as_row(self, batch_id: str) -> dict:
        return {
            "reject_id": self.reject_id,
            "stage": self.stage,
            "reason": self.reason,
            "detail": self.detail[:2000],
            "source": self.source,
            "url": self.url,
            "warc_record_id": self.warc_record_id,
            "n_bytes": self.n_bytes,
            "batch_id": batch_id,
        }


@dataclass
class ReadStats:
    """What the readers passed over, and how far they got (for the progress bar)."""

    skipped: Counter = field(default_factory=Counter)
    bytes_done: int = 0  # input bytes consumed so far, over all files
    file_start: int = 0  # bytes_done when the current file was opened

    def at(self, position: int) -> None:
        """The reader has consumed `position` bytes of the current file."""
        self.bytes_done = self.file_start + position
