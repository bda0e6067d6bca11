"""The interface of an ETL engine, and page isolation, written once for every engine.

The driver (`etl/pipeline.py`) takes batches from an engine, submits them, and asks for each one's
result. An engine says how to run a task and how its failures look; this class does the rest: a batch
that fails as a whole (a hang past the hard timeout, a dead worker, an error that is not the disk's)
has its pages rerun one per task, so that only the pages that fail again become rejects, and the
engine's `CodeErrorWatch` stops the run when they all fail with one exception batch after batch.

Engines: `etl/local_engine.py` (a process pool on this machine) and `etl/cluster/engine.py` (Ray).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from etl.batch import BatchResult, Item, failed_batch, merge
from etl.code_errors import CodeErrorWatch, PageError, PageOutcome
from etl.records import ReadStats
from etl.settings import Settings
from warehouse.store import Warehouse

if TYPE_CHECKING:  # imported when the run reaches it: scipy and datasketch take a second to load
    from etl.finalize import FinalizeReport


@dataclass(frozen=True)
class PageFailed:
    """A page rerun alone that failed by its own doing: it hung, killed its worker or ran out of memory."""

    reason: str  # timeout | worker_crashed | out_of_memory
    detail: str


class BatchEngine(ABC):
    """Runs the ETL's batch tasks. `workers` sizes the driver's window (twice as many batches in flight)."""

    name: str
    workers: int
    settings: Settings
    warehouse: Warehouse
    watch: CodeErrorWatch

    @abstractmethod
    def batches(self, files: list[tuple[str, Path]], stats: ReadStats) -> Iterator[tuple[str, int, Any]]:
        """(batch_id, n_items, items or a reference to them) over all files, in order."""

    @abstractmethod
    def submit(self, batch_id: str, items: Any, n_items: int = 0) -> Any:
        """Start a batch task that writes its staged files; returns a handle for `wait_batch`."""

    @abstractmethod
    def wait_batch(self, handle: Any, n_items: int) -> dict[str, int] | None:
        """The batch's row counts, or None when it failed as a whole. Raises OSError when the
        warehouse's disk failed, which stops the run: that is not the input's doing."""

    @abstractmethod
    def pages(self, items: Any) -> list[Item]:
        """The batch's items, in this process."""

    @abstractmethod
    def submit_page(self, batch_id: str, item: Item) -> Any:
        """Start one page alone, returning its tables instead of writing them, and without retries."""

    @abstractmethod
    def wait_page(self, item: Item, handle: Any) -> BatchResult | PageError | PageFailed:
        """The page's tables; a PageError when our processing raised on it; else how it failed."""

    @abstractmethod
    def finalize(self) -> FinalizeReport:
        """Build the public tables from the committed batches."""

    @abstractmethod
    def close(self) -> None:
        """Release the engine's workers."""

    def timeout(self, n_pages: int) -> float:
        """The hard timeout of a task of `n_pages` pages, beyond the per-page timeout in the workers."""
        return self.settings.extract.page_timeout_s * (n_pages + 1) + 30.0

    def result(self, batch_id: str, items: Any, n_items: int, handle: Any) -> tuple[dict[str, int], int]:
        """Wait for a batch: its row counts (its staged files are written) and how many pages had to be
        rerun alone. A batch that failed as a whole has its pages run one per task, their merged tables
        written here, so that only the pages that fail again become rejects (unless `watch` finds a bug)."""
        counts = self.wait_batch(handle, n_items)
        if counts is not None:
            self.watch.batch_ran()
            return counts, 0
        pages = self.pages(items)
        handles = [self.submit_page(batch_id, item) for item in pages]
        parts = [self._page_result(batch_id, item, h) for item, h in zip(pages, handles, strict=True)]
        self.watch.isolated(
            batch_id, [(item, outcome) for item, (_, outcome) in zip(pages, parts, strict=True)]
        )
        result = merge([part for part, _ in parts])
        self.warehouse.write_staged(batch_id, result.tables())
        return result.counts(), len(pages)

    def _page_result(self, batch_id: str, item: Item, handle: Any) -> tuple[BatchResult, PageOutcome]:
        outcome = self.wait_page(item, handle)
        if isinstance(outcome, BatchResult):
            return outcome, None
        if isinstance(outcome, PageError):
            detail = f"{outcome.kind.rsplit('.', 1)[-1]}: {outcome.message}"
            return failed_batch(batch_id, [item], "extract", "processing_error", detail), outcome
        return failed_batch(batch_id, [item], "extract", outcome.reason, outcome.detail), outcome.reason
