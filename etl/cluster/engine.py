"""The Ray engine of the ETL: one reader task per group of input files, one task per batch, and a
distributed finalize.

A reader task streams its group's batches (a Ray streaming generator, with backpressure), so the
payloads go from the reader's node to the processing node without passing through the driver. Each
batch runs `run_batch`, the local engine's task: it writes the batch's staged files to the warehouse
(a path every node reads and writes) and returns row counts; the driver commits the batch. Groups and
batch ids are the local engine's (`etl/plan.py`: small files packed into groups, each group cut into
batches), so a run can be resumed by either engine. Page isolation is `etl/engine.py`'s, as for the
local engine; this module says how Ray's failures look.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterator

import ray
from ray.exceptions import GetTimeoutError, OutOfMemoryError, RayTaskError, WorkerCrashedError

from etl.batch import BatchResult, Item
from etl.code_errors import CodeErrorWatch, PageError, error_log, exception_kind
from etl.engine import BatchEngine, PageFailed
from etl.finalize import FinalizeReport
from etl.plan import InputFile, group_inputs, plan_batches
from etl.readers import iter_records
from etl.records import ReadStats
from etl.settings import Settings
from etl.task import run_batch
from warehouse.store import Warehouse

_READ_AHEAD = 4  # batches a reader may have ready before the driver takes them (backpressure)


@ray.remote(num_cpus=0)
def read_group(group: list[InputFile], settings: Settings) -> Iterator[object]:
    """Yields, per batch, a header ("batch", batch_id, n_items, bytes read) and then its items;
    finally ("end", skipped counts, the group's size). Reading costs little next to extraction, so
    readers take no CPU from the batch tasks, as the local engine's main process reads beside its
    workers."""
    stats = ReadStats()
    for batch_id, items in plan_batches(iter_records(group, settings.read, stats), settings.read):
        yield ("batch", batch_id, len(items), stats.bytes_done)
        yield items
    yield ("end", dict(stats.skipped), stats.bytes_done)


def open_ray_engine(
    settings: Settings, warehouse: Warehouse, workers: int | None = None, address: str | None = None
) -> RayEngine:
    """Join the cluster at `address`, or start a local Ray instance of `workers` CPUs."""
    from common.ray_runtime import cluster_cpus, start_ray

    start_ray(address, num_cpus=workers)
    cpus = cluster_cpus()
    # Fire and forget: the workers import the extraction stack while the readers start.
    for _ in range(cpus):
        _warm_up.remote()
    return RayEngine(settings, warehouse, cpus)


@ray.remote
def _warm_up() -> None:
    """Import the extraction stack and load the language model: about a second, once per worker."""
    import polars as pl

    import etl.worker  # noqa: F401
    from etl.filters.language import detect_languages

    detect_languages(pl.Series(["warm up"]))


class RayEngine(BatchEngine):
    """The batch tasks as Ray tasks; the items travel as object references from the readers."""

    name = "ray"

    def __init__(
        self, settings: Settings, warehouse: Warehouse, workers: int, task: Callable = run_batch
    ) -> None:
        self.settings = settings
        self.warehouse = warehouse
        self._process = ray.remote(task)  # run_batch; a test swaps in a task that crashes on purpose
        self.watch = CodeErrorWatch(error_log(warehouse))
        self.workers = workers  # CPUs in the cluster: the driver keeps twice as many batches in flight

    def batches(self, files: list[InputFile], stats: ReadStats) -> Iterator[tuple[str, int, object]]:
        """(batch_id, n_items, reference to the items) over all files, in order, one reader task per
        group of files (`etl.plan.group_inputs`); the next group's reader starts while this one's
        batches are taken, so groups follow each other without a gap."""
        options = {"_generator_backpressure_num_objects": 2 * _READ_AHEAD}
        groups = group_inputs(files, self.settings.read)
        readers = [read_group.options(**options).remote(group, self.settings) for group in groups[:1]]
        for index in range(len(groups)):
            if index + 1 < len(groups):
                readers.append(read_group.options(**options).remote(groups[index + 1], self.settings))
            reader = readers[index]
            start = stats.bytes_done
            while True:
                header = ray.get(next(reader))
                if header[0] == "end":
                    stats.skipped.update(Counter(header[1]))
                    stats.bytes_done = start + header[2]
                    break
                _, batch_id, n_items, done = header
                stats.bytes_done = start + done
                yield batch_id, n_items, next(reader)
            readers[index] = None  # let the finished generator go

    def submit(self, batch_id: str, items: object, n_items: int = 0) -> ray.ObjectRef:
        # One retry: a worker lost with its node is worth retrying; a page that kills its worker
        # kills it again, and is then found by the one-page-per-task rerun.
        return self._process.options(max_retries=1).remote(
            batch_id, items, self.settings, str(self.warehouse.root)
        )

    def wait_batch(self, handle: ray.ObjectRef, n_items: int) -> dict[str, int] | None:
        try:
            return ray.get(handle, timeout=self.timeout(n_items))
        except GetTimeoutError:
            ray.cancel(handle, force=True)
        except RayTaskError as exc:
            if isinstance(exc.cause, OSError):  # the warehouse's disk, not the input: stop the run
                raise exc.cause from exc
        except (WorkerCrashedError, OutOfMemoryError):
            pass
        return None

    def pages(self, items: object) -> list[Item]:
        return ray.get(items)

    def submit_page(self, batch_id: str, item: Item) -> ray.ObjectRef:
        return self._process.options(max_retries=0).remote(batch_id, [item], self.settings, None)

    def wait_page(self, item: Item, handle: ray.ObjectRef) -> BatchResult | PageError | PageFailed:
        try:
            return ray.get(handle, timeout=self.timeout(1))
        except GetTimeoutError:
            ray.cancel(handle, force=True)
            return PageFailed("timeout", "the page hung its worker past the hard timeout")
        except OutOfMemoryError as exc:
            return PageFailed("out_of_memory", str(exc)[:500])
        except WorkerCrashedError as exc:
            return PageFailed("worker_crashed", f"the worker process died on this page: {exc}"[:500])
        except RayTaskError as exc:
            cause = exc.cause
            if isinstance(cause, MemoryError):
                return PageFailed("out_of_memory", str(cause))
            return PageError(item.source, exception_kind(cause), str(cause), _traceback(exc))

    def finalize(self) -> FinalizeReport:
        from etl.cluster.finalize import finalize_on_ray

        return finalize_on_ray(self.warehouse, self.settings, self.workers)

    def close(self) -> None:
        pass  # a local Ray instance stops with the process; a cluster outlives the run


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _traceback(exc: RayTaskError) -> str:
    """The worker's traceback, as text. ray.get raises an error of a class derived from both
    RayTaskError and the cause's type, which looks its attributes up on the cause (so has no
    traceback_str) but prints the traceback, in colour."""
    text = exc.__dict__.get("traceback_str") or str(exc)
    return _ANSI.sub("", text)
