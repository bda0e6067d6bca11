"""The ETL driver: stream records into batches, run them on an engine, commit them, finalize.

The driver loop is the same for every engine (`etl/engine.py`): the engine supplies the batches, runs
them (rerunning the pages of a failed batch alone) and builds the public tables. `etl/local_engine.py`
runs on a process pool; `etl/cluster/engine.py` on Ray.
"""

from __future__ import annotations

import importlib
import os
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from tqdm import tqdm

from etl.code_errors import EtlCodeError
from etl.engine import BatchEngine
from etl.local_engine import LocalEngine
from etl.readers import discover_inputs
from etl.records import ReadStats
from etl.settings import Settings
from etl.timing import PhaseClock
from warehouse.store import Warehouse

if TYPE_CHECKING:  # imported when the run reaches it: scipy and datasketch take a second to load
    from etl.finalize import FinalizeReport

__all__ = ["EtlCodeError", "LocalEngine", "RunReport", "run_etl"]


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
            return _run(inputs, warehouse, settings, ray_engine, show_progress, started)
        if engine != "local":
            raise ValueError(f"unknown engine {engine!r}: choose local or ray")
        # Finalize's imports (scipy, datasketch: about a second) load beside the workers' start-up
        # instead of after the last batch.
        threading.Thread(target=importlib.import_module, args=("etl.finalize",), daemon=True).start()
        local = LocalEngine(workers or os.cpu_count() or 1, settings, warehouse)
        return _run(inputs, warehouse, settings, local, show_progress, started)


def _run(
    inputs: list[Path],
    warehouse: Warehouse,
    settings: Settings,
    engine: BatchEngine,
    show_progress: bool,
    started: float,
) -> RunReport:
    fingerprint = settings.staging_fingerprint()
    stats = ReadStats()
    files = discover_inputs(inputs, stats)
    report = RunReport(inputs=len(files), engine=engine.name)
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
