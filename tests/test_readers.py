"""Readers on real WARC files, damaged copies of them, and the other input kinds."""

from __future__ import annotations

import gzip
import itertools
import json
import re
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from warcio.archiveiterator import ArchiveIterator as WarcioIterator

from etl.readers import discover_inputs, iter_records, warc
from etl.records import Failure, RawRecord, ReadStats
from etl.settings import ReadSettings


def html_responses(path: Path) -> int:
    """Count text/html responses with warcio, independently of the reader under test."""
    with open(path, "rb") as fh:
        return sum(
            1
            for r in WarcioIterator(fh)
            if r.rec_type == "response"
            and (r.http_headers.get_header("Content-Type") or "").startswith("text/html")
        )


def read_all(path: Path, settings: ReadSettings | None = None) -> tuple[list, ReadStats]:
    stats = ReadStats()
    rows = list(iter_records(discover_inputs([path], stats), settings or ReadSettings(), stats))
    return rows, stats


def test_dolma_warc_every_html_response_is_read(shared: Path) -> None:
    for name in ("dolma_sample-0000.warc.gz", "dolma_sample-0001.warc.gz"):
        path = shared / "warc" / name
        rows, stats = read_all(path)
        assert all(isinstance(r, RawRecord) for r in rows)
        assert len(rows) == html_responses(path)
        assert all(r.url and r.warc_record_id and r.capture_date for r in rows)
        assert stats.skipped["warc_request_record"] > 0  # other record types are counted, not read


def test_revisit_records_are_skipped_and_counted(shared: Path) -> None:
    rows, stats = read_all(shared / "warc" / "warcio_example.warc.gz")
    assert len(rows) == 1
    assert stats.skipped["warc_revisit_record"] == 1


def test_clueweb_quirks_are_read_record_by_record(shared: Path) -> None:
    rows, _ = read_all(shared / "warc" / "resiliparse_clueweb-quirk.warc.gz")
    assert len(rows) == 29
    assert {r.http_charset for r in rows if isinstance(r, RawRecord)} == {"euc-jp"}


def test_truncated_warc_rejects_only_the_cut_record(shared: Path, tmp_path: Path) -> None:
    data = (shared / "warc" / "dolma_sample-0000.warc.gz").read_bytes()
    cut = tmp_path / "cut.warc.gz"
    cut.write_bytes(data[: len(data) // 2])
    rows, _ = read_all(cut)
    failures = [r for r in rows if isinstance(r, Failure)]
    assert [f.reason for f in failures] == ["truncated_record"]
    assert len(rows) > 5  # the records before the cut are all there


def test_corrupt_gzip_member_is_rejected_and_reading_resumes(shared: Path, tmp_path: Path) -> None:
    path = shared / "warc" / "dolma_sample-0000.warc.gz"
    data = path.read_bytes()
    damaged = tmp_path / "damaged.warc.gz"
    damaged.write_bytes(data[:5000] + b"\x00garbage" * 100 + data[5000:])
    rows, _ = read_all(damaged)
    failures = [r for r in rows if isinstance(r, Failure)]
    assert [f.reason for f in failures] == ["malformed_warc"]
    # Everything but the damaged member is still read: nothing else is lost.
    assert len(rows) == html_responses(path)


def test_a_payload_that_fails_to_decompress_is_damage(shared: Path, tmp_path: Path) -> None:
    """Bytes flipped inside the largest record's gzip member, past its headers: FastWARC parses the
    record and then fails reading its payload (the read in `_to_record`, as measured), which is the
    file's damage, not a bug of ours: a malformed_warc reject, and reading resumes after it."""
    path = shared / "warc" / "dolma_sample-0000.warc.gz"
    data = bytearray(path.read_bytes())
    starts = [m.start() for m in re.finditer(b"\x1f\x8b\x08", data)] + [len(data)]
    size, start = max((end - begin, begin) for begin, end in itertools.pairwise(starts))
    middle = start + size // 2
    data[middle : middle + 50] = bytes(b ^ 0x5A for b in data[middle : middle + 50])
    damaged = tmp_path / "payload.warc.gz"
    damaged.write_bytes(bytes(data))
    rows, _ = read_all(damaged)
    failures = [r for r in rows if isinstance(r, Failure)]
    assert [f.reason for f in failures] == ["malformed_warc"]
    assert failures[0].source.startswith(f"{damaged}@{start}..")
    assert len(rows) == html_responses(path)


def test_an_error_in_our_record_conversion_propagates(
    sample_warc: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bug in our handling of a record, on an undamaged file, is not the file's damage: it
    propagates instead of becoming a malformed_warc reject."""
    real = warc._to_record

    def buggy(record, path, settings, stats):
        row = real(record, path, settings, stats)
        if row is not None:
            row.payload + len(row.payload)  # the bug: TypeError, bytes + int
        return row

    monkeypatch.setattr(warc, "_to_record", buggy)
    with pytest.raises(TypeError, match="can't concat int to bytes"):
        read_all(sample_warc)


def test_html_folder_jsonl_and_parquet(tmp_path: Path) -> None:
    page = b"<html><head><title>T</title></head><body><h1>Hi</h1><p>Text.</p></body></html>"
    (tmp_path / "pages").mkdir()
    (tmp_path / "pages" / "a.html").write_bytes(page)
    (tmp_path / "pages" / "b.htm.gz").write_bytes(gzip.compress(page))
    (tmp_path / "pages" / "notes.txt").write_text("not a page")
    with gzip.open(tmp_path / "rows.jsonl.gz", "wt") as fh:
        fh.write(json.dumps({"url": "https://x.example/1", "html": page.decode()}) + "\n")
        fh.write("{not json\n")
        fh.write(json.dumps({"url": "https://x.example/2", "body": "no html field"}) + "\n")
    pq.write_table(
        pa.table({"url": ["https://y.example/1"], "content": [page.decode()]}), tmp_path / "t.parquet"
    )

    rows, stats = read_all(tmp_path)
    records = [r for r in rows if isinstance(r, RawRecord)]
    reasons = sorted(r.reason for r in rows if isinstance(r, Failure))
    assert len(records) == 4
    assert reasons == ["malformed_json", "no_html_column"]
    assert stats.skipped["file_of_unknown_kind"] == 1
    assert {r.url for r in records} >= {"https://x.example/1", "https://y.example/1"}


def test_page_over_the_size_limit_is_a_failure(tmp_path: Path) -> None:
    (tmp_path / "big.html").write_bytes(b"<p>" + b"x" * 5000 + b"</p>")
    rows, _ = read_all(tmp_path, ReadSettings(max_page_bytes=1000))
    assert [r.reason for r in rows] == ["page_too_large"]


def test_member_with_a_destroyed_header_is_still_reported(shared: Path, tmp_path: Path) -> None:
    path = shared / "warc" / "dolma_sample-0000.warc.gz"
    data = bytearray(path.read_bytes())
    # Overwrite the gzip header of the third member (the first response, after warcinfo and its
    # request): a resync cannot find that member at all.
    third = data.find(b"\x1f\x8b\x08", data.find(b"\x1f\x8b\x08", 1) + 1)
    data[third : third + 10] = b"\x00" * 10
    damaged = tmp_path / "no-header.warc.gz"
    damaged.write_bytes(bytes(data))
    rows, _ = read_all(damaged)
    failures = [r for r in rows if isinstance(r, Failure)]
    assert [f.reason for f in failures] == ["malformed_warc"]
    assert ".." in failures[0].source  # the skipped byte span
    assert len(rows) == html_responses(path)  # the lost response is the reject: nothing vanished
