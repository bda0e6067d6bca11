"""One batch of pages through decode -> extract -> segment -> language -> quality signals -> MinHash.

`process_batch` is a plain function from a list of records to three Arrow tables, so that any
engine (the local process pool, or a distributed one) can run it. A page whose extraction runs past
its timeout, or raises, becomes a reject; the rest of the batch goes on.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import polars as pl
import pyarrow as pa

from etl.batch import BatchResult
from etl.decode import DecodeError, decode_html
from etl.dedup.minhash import segment_signatures
from etl.extract import extract
from etl.filters.language import detect_languages
from etl.filters.quality import quality_metrics
from etl.records import Failure, RawRecord
from etl.segment import segment_blocks
from etl.settings import Settings
from warehouse.schemas import DOCUMENTS, REJECTS, STAGED_SEGMENTS


class PageTimeout(Exception):
    pass


@contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Raise PageTimeout in this (main) thread after `seconds`; a no-op off the main thread."""
    fired = False

    def on_alarm(signum, frame):
        nonlocal fired
        fired = True
        raise PageTimeout(f"extraction ran over {seconds:g} s")

    try:
        previous = signal.signal(signal.SIGALRM, on_alarm)
    except ValueError:  # not the main thread: the pool's hard timeout still applies
        yield
        return
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    if fired:  # the alarm's exception was caught inside the block (trafilatura catches parser errors)
        raise PageTimeout(f"extraction ran over {seconds:g} s")


def parse_capture_date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _page(record: RawRecord, settings: Settings, doc_rows: list, seg_rows: list) -> Failure | None:
    """Decode, extract and segment one page, appending its rows; return a Failure instead if it fails."""
    try:
        decoded = decode_html(record.payload, record.http_charset)
    except DecodeError as exc:
        return Failure(
            "decode",
            exc.reason,
            str(exc),
            record.source,
            record.url,
            record.warc_record_id,
            len(record.payload),
        )
    try:
        with time_limit(settings.extract.page_timeout_s):
            extracted = extract(decoded.text, record.url, settings.extract)
    except PageTimeout as exc:
        return Failure(
            "extract",
            "timeout",
            str(exc),
            record.source,
            record.url,
            record.warc_record_id,
            len(record.payload),
        )
    except RecursionError as exc:
        return Failure(
            "extract",
            "too_deeply_nested",
            str(exc)[:200],
            record.source,
            record.url,
            record.warc_record_id,
            len(record.payload),
        )
    except Exception as exc:  # trafilatura or lxml gave up on this page
        return Failure(
            "extract",
            "extractor_error",
            f"{type(exc).__name__}: {exc}",
            record.source,
            record.url,
            record.warc_record_id,
            len(record.payload),
        )
    doc_id = record.doc_id
    segments = segment_blocks(doc_id, extracted.blocks)
    for s in segments:
        seg_rows.append(
            (
                s.segment_id,
                doc_id,
                record.url,
                record.source,
                s.header,
                s.header_level,
                s.header_path,
                s.position,
                s.text,
            )
        )
    doc_rows.append(
        {
            "doc_id": doc_id,
            "url": record.url,
            "source": record.source,
            "warc_record_id": record.warc_record_id,
            "capture_date": record.capture_date,
            "captured_at": parse_capture_date(record.capture_date),
            "content_type": record.content_type,
            "declared_charset": decoded.declared,
            "encoding": decoded.encoding,
            "decode_lossy": decoded.lossy,
            "n_bytes": len(record.payload),
            "title": extracted.title,
            "status": "ok" if segments else "no_text",
            "n_segments": len(segments),
            "n_chars": sum(len(b.text) for b in extracted.blocks),
        }
    )
    return None


_SEGMENT_INPUT = [
    "segment_id",
    "doc_id",
    "url",
    "source",
    "header",
    "header_level",
    "header_path",
    "position",
    "text",
]


def segment_columns(raw: list[tuple], settings: Settings) -> pa.Table:
    """Language, quality signals, text hash and MinHash signature for a batch of segments."""
    # A page read twice in one batch (the same URL and bytes from two files) has the same segment ids:
    # one row each, as across batches (finalize keeps one of the rows that batches stage twice).
    frame = (
        pl.DataFrame(raw, schema=_SEGMENT_INPUT, orient="row")
        .unique("segment_id", keep="first", maintain_order=True)
        .with_columns(pl.col("header_level").cast(pl.Int8), pl.col("position").cast(pl.Int32))
    )
    langs, scores = detect_languages(frame["text"])
    normalised = pl.col("text").str.to_lowercase().str.replace_all(r"[^\p{L}\p{N}]+", " ").str.strip_chars()
    frame = quality_metrics(frame).with_columns(
        lang=pl.Series(langs, dtype=pl.String),
        lang_score=pl.Series(scores, dtype=pl.Float32),
        text_hash=normalised.hash(seed=7),
        minhash=segment_signatures(frame["text"], settings.dedup),
    )
    return frame.select(STAGED_SEGMENTS.names).to_arrow().cast(STAGED_SEGMENTS)


def process_batch(batch_id: str, items: list[RawRecord | Failure], settings: Settings) -> BatchResult:
    doc_rows: list[dict] = []
    seg_rows: list[tuple] = []
    failures: list[Failure] = []
    for item in items:
        failure = item if isinstance(item, Failure) else _page(item, settings, doc_rows, seg_rows)
        if failure is not None:
            failures.append(failure)
    for row in doc_rows:
        row["batch_id"] = batch_id
    segments = segment_columns(seg_rows, settings) if seg_rows else STAGED_SEGMENTS.empty_table()
    return BatchResult(
        documents=pa.Table.from_pylist(doc_rows, schema=DOCUMENTS),
        segments=segments,
        rejects=pa.Table.from_pylist([f.as_row(batch_id) for f in failures], schema=REJECTS),
    )
