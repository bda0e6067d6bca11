"""The fork server the worker processes start from.

Workers fork from a clean server process, never from the main one: polars' and DuckDB's thread
pools do not survive a fork (the child deadlocks on their locks). The server preloads the worker
code once, so each worker starts warm.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.forkserver
import os
from multiprocessing.context import BaseContext

WORKER_MODULES = ["etl.worker"]


def fork_server() -> BaseContext:
    """The forkserver context, its server started (it preloads in the background, so calling this
    early lets the workers' imports overlap with the main process's own start-up)."""
    # One polars thread per worker: the pool already has a process per core, and polars' own thread
    # pool on top of it oversubscribes the cores (measured: batch 1.36x -> 1.11x the time of
    # trafilatura alone). The server reads this when it starts.
    os.environ.setdefault("POLARS_MAX_THREADS", "1")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(WORKER_MODULES)
    multiprocessing.forkserver.ensure_running()
    return context
