"""What a batch task returns (`BatchResult`), and the result of a batch whose pages all failed."""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

from etl.records import Failure, RawRecord
from warehouse.schemas import DOCUMENTS, REJECTS, STAGED_SEGMENTS

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
