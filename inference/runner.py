"""Run a model stage over its pending rows in small batches, each committed as one atomic Parquet file.

The caller selects only rows that have no result yet, so a rerun after a crash or a `kill -9` starts
where the last committed batch ended: nothing committed is computed again and no row is written twice.
Batches are cut from the pending rows in key order; a batch's file name is a hash of its scope and keys.
When the run ends, the table's small batch files are merged into big ones if there are enough of them
(warehouse/compact.py): the caller's pending query asks the table for keys, not file names, so a
compacted table tells the next run what is done just as well.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import polars as pl
import pyarrow as pa
import xxhash
from tqdm import tqdm

from inference.engines.base import Engine
from warehouse.compact import compact_after_run
from warehouse.store import Warehouse


@dataclass
class StageReport:
    stage: str
    model: str = ""
    prompt_version: str = ""
    already_done: int = 0  # rows committed by earlier runs, skipped
    computed: int = 0
    batches: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    uncached_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def rows_per_second(self) -> float:
        return self.computed / self.seconds if self.seconds else 0.0


def run_batches(
    *,
    warehouse: Warehouse,
    table: str,
    schema: pa.Schema,
    key: str,
    scope: str,
    pending: pl.DataFrame,
    engine: Engine,
    compute: Callable[[Engine, pl.DataFrame], pl.DataFrame],
    batch_rows: int,
    report: StageReport,
    show_progress: bool = True,
) -> StageReport:
    """Compute `pending` in batches of `batch_rows` and append each batch to `table` as it finishes.

    `compute(engine, chunk)` runs where the engine puts it: in this process, or in a Ray actor
    (`inference/engines/ray_pool.py`); batches are written here, in the order they finish.

    `scope` names what else makes a row (model, prompt version, mode...): batches of the same keys
    under another scope are other files. When every batch is written, the table is compacted if it
    has enough small files (`warehouse.compact.compact_after_run`, under the caller's lock); the
    report's `extra["compaction"]` says what it did.
    """
    warehouse.remove_unfinished_writes(table)
    pending = pending.sort(key)
    started = time.perf_counter()
    bar = tqdm(
        total=pending.height,
        unit="row",
        desc=report.stage,
        disable=not show_progress,
        dynamic_ncols=True,
        smoothing=0.1,
    )
    chunks = [pending.slice(offset, batch_rows) for offset in range(0, pending.height, batch_rows)]
    try:
        for index, computed in engine.map_batches(compute, chunks):
            chunk = chunks[index]
            batch_id = xxhash.xxh3_128_hexdigest("\n".join([scope, *chunk[key].to_list()]).encode())
            rows = computed.with_columns(
                batch_id=pl.lit(batch_id),
                created_at=pl.lit(datetime.now(UTC)),
            )
            arrow = rows.select(schema.names).to_arrow().cast(schema)
            warehouse.append_part(table, arrow, batch_id)
            report.batches += 1
            report.computed += rows.height
            report.statuses.update(rows["status"].to_list())
            report.uncached_tokens += int(rows["uncached_tokens"].fill_null(0).sum())
            report.completion_tokens += int(rows["completion_tokens"].fill_null(0).sum())
            elapsed = time.perf_counter() - started
            bar.set_postfix_str(f"prompt {report.uncached_tokens / elapsed:,.0f} tok/s", refresh=False)
            bar.update(chunk.height)  # the bar counts pending rows; a row may give several
    finally:
        bar.close()
        report.seconds = time.perf_counter() - started
    compaction = compact_after_run(warehouse, table)
    if compaction is not None:
        report.extra["compaction"] = compaction
    return report
