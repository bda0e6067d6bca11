"""The ETL driver and its local engine: stream records into batches, run them, commit, finalize.

The driver loop (`run_etl`) is the same for both engines; an engine supplies the batches, runs them and
builds the public tables. This module's `LocalEngine` runs on a process pool; `etl/cluster/` holds the
Ray engine.

Isolation: each batch runs in a worker process of a pebble pool. Inside the worker a page that runs
past its timeout is interrupted (SIGALRM); if a page hangs in native code or kills its worker, the
pool's hard timeout or the dead process fails the batch, and its pages are then run one per task so
that only the culprit becomes a reject.
"""

from __future__ import annotations

import os
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import TimeoutError as FutureTimeout
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path

from pebble import ProcessExpired, ProcessPool
from tqdm import tqdm

from etl.batch import BatchResult, Item, failed_batch, merge, run_batch
from etl.finalize import FinalizeReport, finalize
from etl.processes import fork_server
from etl.readers import discover_inputs, iter_records
from etl.records import Failure, ReadStats, content_id
from etl.settings import Settings
from warehouse.store import Warehouse


@dataclass
class RunReport:
    inputs: int = 0
    records: int = 0  # HTML records and read failures that entered batches
    batches: int = 0
    batches_skipped: int = 0  # already committed by an earlier run
    pages_isolated: int = 0  # pages rerun one per task after their batch failed
    skipped: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    engine: str = "local"
    final: FinalizeReport | None = None


def item_key(item: Item) -> str:
    return item.reject_id if isinstance(item, Failure) else item.doc_id + item.source


def plan_batches(items: Iterable[Item], size: int) -> Iterator[tuple[str, list[Item]]]:
    """Group items into batches whose id is content-addressed by their members. Engines call it on one
    input file at a time, so a batch never spans files and the Ray engine can read files apart."""
    batch: list[Item] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield content_id(*map(item_key, batch)), batch
            batch = []
    if batch:
        yield content_id(*map(item_key, batch)), batch


class LocalEngine:
    """Runs batches on a pool of worker processes with a hard timeout per task.

    Workers write their batch's staged files themselves and send back only row counts; the engine
    commits a batch (its manifest) once its task has succeeded.
    """

    def __init__(
        self, workers: int, settings: Settings, warehouse: Warehouse, task: Callable = run_batch
    ) -> None:
        self.settings = settings
        self.warehouse = warehouse
        self.workers = workers
        self.task = task  # run_batch; a test swaps in a task that crashes on purpose
        context = fork_server()
        self.pool = ProcessPool(max_workers=workers, context=context)

    def _timeout(self, n_pages: int) -> float:
        return self.settings.extract.page_timeout_s * (n_pages + 1) + 30.0

    def batches(
        self, files: list[tuple[str, Path]], stats: ReadStats
    ) -> Iterator[tuple[str, int, list[Item]]]:
        """(batch_id, n_items, items), read in this process, one file at a time."""
        size = self.settings.read.records_per_batch
        for file in files:
            for batch_id, items in plan_batches(iter_records([file], self.settings.read, stats), size):
                yield batch_id, len(items), items

    def submit(self, batch_id: str, items: list[Item], n_items: int = 0, write: bool = True):
        root = str(self.warehouse.root) if write else None
        return self.pool.schedule(
            self.task, (batch_id, items, self.settings, root), timeout=self._timeout(len(items))
        )

    def result(self, batch_id: str, items: list[Item], n_items: int, future) -> tuple[dict[str, int], int]:
        """Wait for a batch and return its row counts (its files are written) and how many pages
        had to be rerun alone. If the batch failed as a whole (a hang, a dead worker, or an error
        that is not the disk's), its pages run one per task and their merged tables are written here,
        so that only the pages that fail again become rejects."""
        try:
            return future.result(), 0
        except (FutureTimeout, ProcessExpired, BrokenProcessPool):  # OSError subclasses, but the page's doing
            pass
        except OSError:  # the warehouse's disk, not the input: stop the run
            raise
        except Exception:
            pass
        singles = [(item, self.submit(batch_id, [item], write=False)) for item in items]
        parts = [self._single_result(batch_id, item, single) for item, single in singles]
        result = merge(parts)
        self.warehouse.write_staged(batch_id, result.tables())
        return result.counts(), len(items)

    @staticmethod
    def _single_result(batch_id: str, item: Item, future) -> BatchResult:
        try:
            return future.result()
        except FutureTimeout:
            reason, detail = "timeout", "the page hung its worker past the hard timeout"
        except (ProcessExpired, BrokenProcessPool) as exc:
            reason, detail = "worker_crashed", f"the worker process died on this page: {exc}"
        except MemoryError as exc:
            reason, detail = "out_of_memory", str(exc)
        except Exception as exc:
            reason, detail = "processing_error", f"{type(exc).__name__}: {exc}"
        return failed_batch(batch_id, [item], "extract", reason, detail)

    def finalize(self) -> FinalizeReport:
        return finalize(self.warehouse, self.settings)

    def close(self) -> None:
        self.pool.close()
        self.pool.join()


def _progress(total_bytes: int) -> tqdm:
    return tqdm(
        total=total_bytes,
        unit="B",
        unit_scale=True,
        dynamic_ncols=True,
        desc="etl",
        bar_format="{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} "
        "[{elapsed}<{remaining}, {rate_fmt}{postfix}]",
        mininterval=0.5,
    )


def run_etl(
    inputs: list[Path],
    warehouse_dir: Path,
    settings: Settings,
    workers: int | None = None,
    show_progress: bool = True,
    engine: str = "local",
    address: str | None = None,
) -> RunReport:
    """Run the ETL on `engine` "local" (a process pool of `workers`) or "ray" (a local Ray instance of
    `workers` CPUs, or the cluster at `address`)."""
    warehouse = Warehouse(warehouse_dir)
    with warehouse.exclusive():
        if engine == "ray":
            from etl.cluster.engine import open_ray_engine

            ray_engine = open_ray_engine(settings, warehouse, workers, address)
            return _run(inputs, warehouse, settings, ray_engine, show_progress, "ray")
        if engine != "local":
            raise ValueError(f"unknown engine {engine!r}: choose local or ray")
        local = LocalEngine(workers or os.cpu_count() or 1, settings, warehouse)
        return _run(inputs, warehouse, settings, local, show_progress, "local")


def _run(
    inputs: list[Path], warehouse: Warehouse, settings: Settings, engine, show_progress: bool, name: str
) -> RunReport:
    started = time.monotonic()
    fingerprint = settings.staging_fingerprint()
    stats = ReadStats()
    files = discover_inputs(inputs, stats)
    report = RunReport(inputs=len(files), engine=name)
    window: deque = deque()
    in_flight = 2 * engine.workers
    bar = _progress(sum(p.stat().st_size for _, p in files)) if show_progress else None
    pages = 0

    def drain_one() -> None:
        nonlocal pages
        batch_id, items, n_items, future = window.popleft()
        counts, isolated = engine.result(batch_id, items, n_items, future)
        report.pages_isolated += isolated
        warehouse.commit(batch_id, {"fingerprint": fingerprint, **counts})
        pages += n_items
        if bar is not None:
            bar.set_postfix_str(f"{pages} pages, {pages / max(bar.format_dict['elapsed'], 1e-9):.1f} pages/s")
            bar.update(stats.bytes_done - bar.n)

    try:
        for batch_id, n_items, items in engine.batches(files, stats):
            report.batches += 1
            report.records += n_items
            if warehouse.is_committed(batch_id, fingerprint):
                report.batches_skipped += 1
                pages += n_items
                continue
            window.append((batch_id, items, n_items, engine.submit(batch_id, items, n_items)))
            while len(window) > in_flight:
                drain_one()
        while window:
            drain_one()
        report.skipped = dict(stats.skipped)
        report.final = engine.finalize()
    finally:
        engine.close()
        if bar is not None:
            bar.update(stats.bytes_done - bar.n)
            bar.close()
    report.seconds = time.monotonic() - started
    return report
