"""The ETL driver and its local engine: stream records into batches, run them, commit, finalize.

The driver loop (`run_etl`) is the same for both engines; an engine supplies the batches, runs them and
builds the public tables. This module's `LocalEngine` runs on a process pool; `etl/cluster/` holds the
Ray engine.

Isolation: each batch runs in a worker process of a pebble pool. Inside the worker a page that runs
past its timeout is interrupted (SIGALRM); if a page hangs in native code or kills its worker, the
pool's hard timeout or the dead process fails the batch, and its pages are then run one per task so
that only the culprit becomes a reject. When the pages rerun alone all raise the same exception batch
after batch, the fault is the code's, not the input's: `CodeErrorWatch` stops the run (`EtlCodeError`)
instead of filing the corpus under rejects.
"""

from __future__ import annotations

import importlib
import os
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import TimeoutError as FutureTimeout
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from pebble import ProcessExpired, ProcessPool
from tqdm import tqdm

from etl.batch import BatchResult, Item, failed_batch, merge, run_batch
from etl.plan import group_inputs, plan_batches
from etl.processes import fork_server
from etl.readers import discover_inputs, iter_records
from etl.records import RawRecord, ReadStats
from etl.settings import Settings
from etl.timing import PhaseClock
from warehouse.store import Warehouse

if TYPE_CHECKING:  # imported when the run reaches it: scipy and datasketch take a second to load
    from etl.finalize import FinalizeReport


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
    # Seconds per phase of the run, in order: setup, batches, finalize's steps, shut-down.
    phases: dict[str, float] = field(default_factory=dict)


class EtlCodeError(RuntimeError):
    """The pages of a run fail with one exception of our own processing: a bug, not bad input."""


_FRAME = re.compile(r'File "([^"]+)", line (\d+), in (\S+)')


def exception_kind(exc: BaseException) -> str:
    kind = type(exc)
    return kind.__qualname__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__qualname__}"


@dataclass(frozen=True)
class PageError:
    """A page, rerun alone, whose task raised in our processing (a processing_error reject)."""

    source: str
    kind: str  # the exception's type: TypeError, polars.exceptions.ComputeError
    message: str
    traceback: str  # the worker's, as text; "" when the engine gave none

    @property
    def where(self) -> str:
        """The frame that raised (the traceback's last) as `file:line in function`; "" if unknown."""
        frames = _FRAME.findall(self.traceback)
        if not frames:
            return ""
        file, line, function = frames[-1]
        return f"{file}:{line} in {function}"

    @property
    def signature(self) -> tuple[str, str]:
        # The raising line rather than the message, which often names the page (a KeyError's key).
        return self.kind, self.where or self.message


# How a page rerun alone ended: None if it ran, its PageError if our processing raised, else the
# reason of a failure that is the page's own doing (timeout, worker_crashed, out_of_memory).
PageOutcome = PageError | str | None


def error_log(warehouse: Warehouse) -> Path:
    return warehouse.root / "_logs" / "etl-errors.log"


class CodeErrorWatch:
    """Tells a bug in the run's code from bad input, on the pages of failed batches rerun alone.

    A page whose processing raises becomes a processing_error reject. But when every page rerun alone
    in `batches` consecutive batches raised the same exception (type and raising line), or the run
    ends with no page run at all and its last batches' pages all raised one, a bug is failing every
    page: `isolated` or `run_ended` write the tracebacks to the warehouse's error log and raise
    EtlCodeError. A page that runs, or fails by timeout, dead worker or lack of memory (the page's
    doing), breaks the streak. The engines feed it; the driver holds back the commits of the streak's
    batches (`suspects`), since a committed batch of rejects would be skipped after the fix.
    """

    def __init__(self, log_path: Path, batches: int = 2) -> None:
        self.log_path = log_path
        self.batches = batches
        self.streak: list[tuple[str, list[PageError]]] = []  # (batch_id, its pages' errors), in order
        self.any_ran = False  # a batch or a page of the run ran

    @property
    def suspects(self) -> set[str]:
        return {batch_id for batch_id, _ in self.streak}

    def batch_ran(self) -> None:
        self.any_ran = True
        self.streak.clear()

    def isolated(self, batch_id: str, outcomes: list[tuple[Item, PageOutcome]]) -> None:
        """Record a batch whose pages were rerun alone; raise EtlCodeError if it completes a streak."""
        # A read failure passes through the workers untouched: running, it shows nothing of the code.
        ran = any(o is None and isinstance(item, RawRecord) for item, o in outcomes)
        errors = [o for _, o in outcomes if isinstance(o, PageError)]
        own_doing = any(isinstance(o, str) for _, o in outcomes)
        signatures = {e.signature for e in errors}
        if ran or own_doing or len(signatures) != 1:
            self.any_ran = self.any_ran or ran
            self.streak.clear()
            return
        if self.streak and self.streak[-1][1][0].signature not in signatures:  # another error
            self.streak.clear()
        self.streak.append((batch_id, errors))
        if len(self.streak) >= self.batches:
            raise self._stop(f"every page of {len(self.streak)} consecutive batches")

    def run_ended(self) -> None:
        """Raise EtlCodeError if no page of the run ran and its last batches' pages raised one error;
        otherwise end the streak: its batches hold rejects like any other."""
        if self.streak and not self.any_ran:
            raise self._stop("every page that the run processed")
        self.streak.clear()

    def _stop(self, scope: str) -> EtlCodeError:
        errors = [e for _, batch in self.streak for e in batch]
        first = errors[0]
        where = f" (raised at {first.where})" if first.where else ""
        message = (
            f"{first.kind}: {first.message[:500]}{where} failed {scope} ({len(errors)} pages, each rerun "
            "alone). This looks like a bug in the run's code, not bad input; these batches are not "
            "committed, so the run after the fix processes them again."
        )
        try:
            self._write_log(message)
            message += f" Full traceback: {self.log_path}"
        except OSError as exc:
            message += f" (the traceback could not be written to {self.log_path}: {exc})"
        return EtlCodeError(message)

    def _write_log(self, message: str) -> None:
        lines = [f"==== {datetime.now(UTC).isoformat(timespec='seconds')} EtlCodeError", message]
        for batch_id, errors in self.streak:  # one traceback per batch: they raised at one place
            sources = ", ".join(e.source for e in errors[:5]) + (" ..." if len(errors) > 5 else "")
            lines.append(f"-- batch {batch_id}: {len(errors)} pages ({sources}); the first's traceback:")
            lines.append(errors[0].traceback.rstrip() or "(the engine gave no traceback)")
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "a", encoding="utf-8") as log:
            log.write("\n".join(lines) + "\n\n")


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
        self.watch = CodeErrorWatch(error_log(warehouse))
        context = fork_server()
        self.pool = ProcessPool(max_workers=workers, context=context)

    def _timeout(self, n_pages: int) -> float:
        return self.settings.extract.page_timeout_s * (n_pages + 1) + 30.0

    def batches(
        self, files: list[tuple[str, Path]], stats: ReadStats
    ) -> Iterator[tuple[str, int, list[Item]]]:
        """(batch_id, n_items, items), read in this process, one group of files at a time."""
        read = self.settings.read
        for group in group_inputs(files, read):
            for batch_id, items in plan_batches(iter_records(group, read, stats), read):
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
        so that only the pages that fail again become rejects (unless `self.watch` finds a bug)."""
        try:
            counts = future.result()
        except (FutureTimeout, ProcessExpired, BrokenProcessPool):  # OSError subclasses, but the page's doing
            pass
        except OSError:  # the warehouse's disk, not the input: stop the run
            raise
        except Exception:
            pass
        else:
            self.watch.batch_ran()
            return counts, 0
        singles = [(item, self.submit(batch_id, [item], write=False)) for item in items]
        parts = [self._single_result(batch_id, item, single) for item, single in singles]
        self.watch.isolated(
            batch_id, [(item, outcome) for item, (_, outcome) in zip(items, parts, strict=True)]
        )
        result = merge([part for part, _ in parts])
        self.warehouse.write_staged(batch_id, result.tables())
        return result.counts(), len(items)

    @staticmethod
    def _single_result(batch_id: str, item: Item, future) -> tuple[BatchResult, PageOutcome]:
        try:
            return future.result(), None
        except FutureTimeout:
            reason, detail = "timeout", "the page hung its worker past the hard timeout"
        except (ProcessExpired, BrokenProcessPool) as exc:
            reason, detail = "worker_crashed", f"the worker process died on this page: {exc}"
        except MemoryError as exc:
            reason, detail = "out_of_memory", str(exc)
        except Exception as exc:  # pebble hands over the worker's traceback as text
            error = PageError(item.source, exception_kind(exc), str(exc), getattr(exc, "traceback", ""))
            detail = f"{type(exc).__name__}: {exc}"
            return failed_batch(batch_id, [item], "extract", "processing_error", detail), error
        return failed_batch(batch_id, [item], "extract", reason, detail), reason

    def finalize(self) -> FinalizeReport:
        from etl.finalize import finalize

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
    started = time.perf_counter()
    warehouse = Warehouse(warehouse_dir)
    with warehouse.exclusive():
        if engine == "ray":
            from etl.cluster.engine import open_ray_engine

            ray_engine = open_ray_engine(settings, warehouse, workers, address)
            return _run(inputs, warehouse, settings, ray_engine, show_progress, "ray", started)
        if engine != "local":
            raise ValueError(f"unknown engine {engine!r}: choose local or ray")
        # Finalize's imports (scipy, datasketch: about a second) load beside the workers' start-up
        # instead of after the last batch.
        threading.Thread(target=importlib.import_module, args=("etl.finalize",), daemon=True).start()
        local = LocalEngine(workers or os.cpu_count() or 1, settings, warehouse)
        return _run(inputs, warehouse, settings, local, show_progress, "local", started)


def _run(
    inputs: list[Path],
    warehouse: Warehouse,
    settings: Settings,
    engine,
    show_progress: bool,
    name: str,
    started: float,
) -> RunReport:
    fingerprint = settings.staging_fingerprint()
    stats = ReadStats()
    files = discover_inputs(inputs, stats)
    report = RunReport(inputs=len(files), engine=name)
    clock = PhaseClock(report.phases)
    report.phases["start-up (engine, inputs)"] = time.perf_counter() - started
    clock.last = time.perf_counter()
    window: deque = deque()
    in_flight = 2 * engine.workers
    bar = _progress(sum(p.stat().st_size for _, p in files)) if show_progress else None
    pages = 0
    # Batches whose every page raised one exception are committed only once the run has shown that
    # it is not a bug (see CodeErrorWatch): committed, they would be skipped by the run after a fix.
    held: list[tuple[str, dict[str, int]]] = []

    def commit_cleared() -> None:
        suspects = engine.watch.suspects
        for batch_id, counts in held:
            if batch_id not in suspects:
                warehouse.commit(batch_id, {"fingerprint": fingerprint, **counts})
        held[:] = [(batch_id, counts) for batch_id, counts in held if batch_id in suspects]

    def drain_one() -> None:
        nonlocal pages
        batch_id, items, n_items, future = window.popleft()
        counts, isolated = engine.result(batch_id, items, n_items, future)
        report.pages_isolated += isolated
        held.append((batch_id, counts))
        commit_cleared()
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
        engine.watch.run_ended()
        commit_cleared()
        clock.lap("read, extract, stage, commit")
        if bar is not None:
            bar.update(stats.bytes_done - bar.n)
            bar.close()
            bar = None
        report.skipped = dict(stats.skipped)
        report.final = engine.finalize()
        report.phases.update({f"finalize: {k}": v for k, v in report.final.phases.items()})
        clock.last = time.perf_counter()
    finally:
        engine.close()
        if bar is not None:
            bar.update(stats.bytes_done - bar.n)
            bar.close()
    clock.lap("shut-down")
    report.seconds = time.perf_counter() - started
    return report
