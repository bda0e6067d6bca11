"""The batch task the engines schedule, local or on Ray.

The parent process imports only this module; the extraction stack (trafilatura, lxml, fastText) is
imported inside the workers (`etl/worker.py`), where the fork server preloads it.
"""

from __future__ import annotations

from etl.batch import BatchResult, Item
from etl.settings import Settings
from warehouse.store import Warehouse


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
