"""Parquet: one page per row, read in record batches."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pyarrow.parquet as pq

from etl.readers.jsonl import HTML_COLUMN_CANDIDATES, _record, html_column
from etl.records import Failure, RawRecord, ReadStats
from etl.settings import ReadSettings


def read_parquet(path: Path, settings: ReadSettings, stats: ReadStats) -> Iterator[RawRecord | Failure]:
    parquet = pq.ParquetFile(path)
    names = parquet.schema_arrow.names
    column = html_column(names, settings)
    if column is None:
        wanted = settings.html_column or " or ".join(HTML_COLUMN_CANDIDATES)
        yield Failure("read", "no_html_column", f"no {wanted} column in {names}", str(path))
        return
    columns = [c for c in (column, settings.url_column) if c in names]
    row_no = 0
    for batch in parquet.iter_batches(batch_size=256, columns=columns):
        for row in batch.to_pylist():
            yield _record(row, f"{path}#{row_no}", settings)
            row_no += 1
