"""The two ways to reach a llama.cpp model: in this process (default), or a running server."""

from __future__ import annotations

from pathlib import Path

from inference.engines.base import Engine
from inference.models import resolve_model


def open_engine(
    model: str | Path | None = None,
    server: str | None = None,
    *,
    parallel: int = 8,
    threads: int | None = None,
    n_ctx: int = 16384,
) -> Engine:
    """The embedded model when neither a model file nor a server URL is given.

    `parallel` is the number of rows decoded together in-process, or of requests in flight to a server.
    """
    ref = resolve_model(model, server)
    if ref.server_url is not None:
        from inference.engines.server import ServerEngine

        return ServerEngine(ref.server_url, concurrency=parallel)
    from inference.engines.local import LocalEngine

    return LocalEngine(ref.path, ref.source, n_ctx=n_ctx, parallel=parallel, n_threads=threads)
