"""The local ETL engine: batches on a pebble process pool of this machine, with a hard timeout per task.

Inside a worker a page that runs past its timeout is interrupted (SIGALRM); a page that hangs in native
code or kills its worker fails its batch by the pool's hard timeout or the dead process, and the
batch's pages then rerun alone (`etl/engine.py`). Workers write their batch's staged files themselves
and send back only row counts; the driver commits a batch (its manifest) once its task has succeeded.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import TYPE_CHECKING

from pebble import ProcessExpired, ProcessPool

from etl.batch import BatchResult, Item
from etl.code_errors import CodeErrorWatch, PageError, error_log, exception_kind
from etl.engine import BatchEngine, PageFailed
from etl.plan import group_inputs, plan_batches
from etl.processes import fork_server
from etl.readers import iter_records
from etl.records import ReadStats
from etl.settings import Settings
from etl.task import run_batch
from warehouse.store import Warehouse

if TYPE_CHECKING:  # imported when the run reaches it: scipy and datasketch take a second to load
    from etl.finalize import FinalizeReport


class LocalEngine(BatchEngine):
    name = "local"

    def __init__(
        self, workers: int, settings: Settings, warehouse: Warehouse, task: Callable = run_batch
    ) -> None:
        self.settings = settings
        self.warehouse = warehouse
        self.workers = workers
        self.task = task  # run_batch; a test swaps in a task that crashes on purpose
        self.watch = CodeErrorWatch(error_log(warehouse))
        self.pool = ProcessPool(max_workers=workers, context=fork_server())

    def batches(
        self, files: list[tuple[str, Path]], stats: ReadStats
    ) -> Iterator[tuple[str, int, list[Item]]]:
        """(batch_id, n_items, items), read in this process, one group of files at a time."""
        read = self.settings.read
        for group in group_inputs(files, read):
            for batch_id, items in plan_batches(iter_records(group, read, stats), read):
                yield batch_id, len(items), items

    def _schedule(self, batch_id: str, items: list[Item], warehouse_root: str | None) -> Future:
        return self.pool.schedule(
            self.task, (batch_id, items, self.settings, warehouse_root), timeout=self.timeout(len(items))
        )

    def submit(self, batch_id: str, items: list[Item], n_items: int = 0) -> Future:
        return self._schedule(batch_id, items, str(self.warehouse.root))

    def wait_batch(self, handle: Future, n_items: int) -> dict[str, int] | None:
        try:
            return handle.result()
        except (FutureTimeout, ProcessExpired, BrokenProcessPool):  # OSError subclasses, but the page's doing
            return None
        except OSError:  # the warehouse's disk, not the input: stop the run
            raise
        except Exception:
            return None

    def pages(self, items: list[Item]) -> list[Item]:
        return items

    def submit_page(self, batch_id: str, item: Item) -> Future:
        return self._schedule(batch_id, [item], None)

    def wait_page(self, item: Item, handle: Future) -> BatchResult | PageError | PageFailed:
        try:
            return handle.result()
        except FutureTimeout:
            return PageFailed("timeout", "the page hung its worker past the hard timeout")
        except (ProcessExpired, BrokenProcessPool) as exc:
            return PageFailed("worker_crashed", f"the worker process died on this page: {exc}")
        except MemoryError as exc:
            return PageFailed("out_of_memory", str(exc))
        except Exception as exc:  # pebble hands over the worker's traceback as text
            return PageError(item.source, exception_kind(exc), str(exc), getattr(exc, "traceback", ""))

    def finalize(self) -> FinalizeReport:
        from etl.finalize import finalize

        return finalize(self.warehouse, self.settings)

    def close(self) -> None:
        self.pool.close()
        self.pool.join()
