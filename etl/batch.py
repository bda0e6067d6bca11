"""A batch task as the engines see it: its entry point, and what it returns.

The parent process imports only this module; the extraction stack (trafilatura, lxml, fastText)
is imported inside the workers, where the fork server preloads it.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

from etl.records import Failure, RawRecord
from etl.settings import Settings
from warehouse.schemas import DOCUMENTS, REJECTS, STAGED_SEGMENTS
from warehouse.store import Warehouse

Item = RawRecord | Failure


@dataclass
class BatchResult:
    documents: pa.Table
    segments: pa.Table
    rejects: pa.Table

    def tables(self) -> dict[str, pa.Table]:
        return {"documents": self.documents, "segments": self.segments, "rejects": self.rejects}

    def counts(self) -> dict[str, int]:
        return {name: table.num_rows for name, table in self.tables().items()}


def merge(parts: list[BatchResult]) -> BatchResult:
    return BatchResult(
        documents=pa.concat_tables([p.documents for p in parts]),
        segments=pa.concat_tables([p.segments for p in parts]),
        rejects=pa.concat_tables([p.rejects for p in parts]),
    )


def failed_batch(batch_id: str, items: list[Item], stage: str, reason: str, detail: str) -> BatchResult:
    """Every page of a batch as a reject (for a page that, run alone, hung, crashed or raised)."""
    rows = []
    for item in items:
        if isinstance(item, Failure):
            rows.append(item.as_row(batch_id))
        else:
            failure = Failure(
                stage, reason, detail, item.source, item.url, item.warc_record_id, len(item.payload)
            )
            rows.append(failure.as_row(batch_id))
    return BatchResult(
        DOCUMENTS.empty_table(), STAGED_SEGMENTS.empty_table(), pa.Table.from_pylist(rows, schema=REJECTS)
    )


def run_batch(
    batch_id: str, items: list[Item], settings: Settings, warehouse_root: str | None = None
) -> BatchResult | dict[str, int]:
    """Process a batch. With a warehouse, write its staged files there (not the commit manifest,
    which the engine writes once it has the result) and return only the row counts, so the
    tables never travel back to the parent process."""
    from etl.worker import process_batch

    result = process_batch(batch_id, items, settings)
    if warehouse_root is None:
        return result
    Warehouse(warehouse_root).write_staged(batch_id, result.tables())
    return result.counts()
