"""Schemas of the warehouse tables. Each table is a folder of Parquet files: `<warehouse>/<table>/`.

The column comments are the table reference; the README repeats them for users.
"""

from __future__ import annotations

import pyarrow as pa

DOCUMENTS = pa.schema(
    [
        pa.field("doc_id", pa.string(), nullable=False),  # XXH3-128 of url + raw payload bytes
        pa.field("url", pa.string()),  # WARC-Target-URI, the JSONL/Parquet url column, or file:// path
        pa.field("source", pa.string(), nullable=False),  # input file and record: path@offset, path:line
        pa.field("warc_record_id", pa.string()),  # WARC-Record-ID, null outside WARC input
        pa.field("capture_date", pa.string()),  # WARC-Date as written in the record
        pa.field("captured_at", pa.timestamp("us", tz="UTC")),  # capture_date parsed; null if invalid
        pa.field("content_type", pa.string()),  # HTTP Content-Type
        pa.field("declared_charset", pa.string()),  # charset from the HTTP header or the meta tag
        pa.field("encoding", pa.string()),  # the codec that decoded the page
        pa.field("decode_lossy", pa.bool_()),  # true when undecodable bytes were replaced
        pa.field("n_bytes", pa.int64()),  # payload size
        pa.field("title", pa.string()),  # page title found by trafilatura
        pa.field("status", pa.string(), nullable=False),  # ok | no_text (the page has no main text)
        pa.field("n_segments", pa.int32()),  # segments cut from the page
        pa.field("n_chars", pa.int64()),  # characters of extracted text, headers included
        pa.field("batch_id", pa.string()),  # the committed batch that produced the row
    ]
)

_SEGMENT_CORE = [
    pa.field(
        "segment_id", pa.string(), nullable=False
    ),  # XXH3-128 (96 bits kept) of doc_id, position, header, text
    pa.field("doc_id", pa.string(), nullable=False),
    pa.field("url", pa.string()),
    pa.field("source", pa.string()),
    pa.field("header", pa.string()),  # the header's text; "" for text before the first header
    pa.field("header_level", pa.int8()),  # 1-6 for h1-h6, 0 for no header
    pa.field("header_path", pa.string()),  # enclosing headers joined by " > "
    pa.field("position", pa.int32()),  # 0-based order of the segment in its document
    pa.field("text", pa.string()),  # the text under the header, paragraphs separated by newlines
    pa.field("n_chars", pa.int32()),
    pa.field("n_words", pa.int32()),
    pa.field("n_lines", pa.int32()),
    pa.field("lang", pa.string()),  # fastText lid.176 language code
    pa.field("lang_score", pa.float32()),  # its probability
    pa.field("header_upper_ratio", pa.float32()),  # capitals among the header's letters (null: no letters)
    pa.field("symbol_word_ratio", pa.float32()),
    pa.field("bullet_line_ratio", pa.float32()),
    pa.field("ellipsis_line_ratio", pa.float32()),
    pa.field("alpha_word_ratio", pa.float32()),
    pa.field("mean_word_length", pa.float32()),
    pa.field("stop_words", pa.int32()),
    pa.field("boilerplate_line_ratio", pa.float32()),
    pa.field("duplicate_line_ratio", pa.float32()),
    pa.field("text_hash", pa.uint64()),  # hash of the normalised text, for exact duplicates
]

# What a worker writes for each batch, before the corpus-wide dedup and the thresholds.
STAGED_SEGMENTS = pa.schema(
    [*_SEGMENT_CORE, pa.field("bands", pa.list_(pa.uint64()))]  # MinHash LSH band hashes; null: too short
)

SEGMENTS = pa.schema(
    [
        *_SEGMENT_CORE,
        pa.field("dup_cluster", pa.string()),  # id of the duplicate cluster (its smallest segment_id)
        pa.field("is_duplicate", pa.bool_(), nullable=False),  # in a cluster and not its kept member
        pa.field("keep", pa.bool_(), nullable=False),  # passes every filter and is not a duplicate
        pa.field("reasons", pa.list_(pa.string()), nullable=False),  # every reason it is not kept
    ]
)

REJECTS = pa.schema(
    [
        pa.field("reject_id", pa.string(), nullable=False),  # XXH3-128 of source, stage and reason
        pa.field("stage", pa.string(), nullable=False),  # read | decode | extract
        pa.field("reason", pa.string(), nullable=False),  # short machine-readable reason
        pa.field("detail", pa.string()),  # the error message, for people
        pa.field("source", pa.string(), nullable=False),  # input file and record, as in documents
        pa.field("url", pa.string()),
        pa.field("warc_record_id", pa.string()),
        pa.field("n_bytes", pa.int64()),
        pa.field("batch_id", pa.string()),
    ]
)

TABLES: dict[str, pa.Schema] = {"documents": DOCUMENTS, "segments": SEGMENTS, "rejects": REJECTS}
