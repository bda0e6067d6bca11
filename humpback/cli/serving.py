"""`humpback serve`: a llama.cpp server for a model file, on loopback, until interrupted."""

from __future__ import annotations

import signal
import sys
from pathlib import Path
from typing import Annotated

import typer

from humpback.cli.options import ModelOption, ThreadsOption, fail


def serve(
    model: ModelOption = None,
    impl: Annotated[
        str,
        typer.Option(
            help="llama-server (upstream: parallel slots, a prompt cache) or python (llama_cpp.server: one "
            "request at a time, but prompt-token log-probabilities for the calibrated mode)."
        ),
    ] = "llama-server",
    host: Annotated[
        str, typer.Option(help="The address to bind; anything but loopback needs --allow-remote.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="The port to listen on.")] = 8080,
    parallel: Annotated[int, typer.Option(help="llama-server's slots: requests decoded together.")] = 4,
    threads: ThreadsOption = None,
    ctx_per_slot: Annotated[int, typer.Option(help="Context tokens per slot.")] = 4096,
    allow_remote: Annotated[
        bool, typer.Option(help="Bind an address other than loopback: the server has no authentication.")
    ] = False,
    log: Annotated[
        Path | None, typer.Option(help="The server's own log; default: <impl>-<port>.log in .venv.")
    ] = None,
) -> None:
    """Start a llama.cpp server for the model (default: the embedded one), print its URL for --server, and
    stop it cleanly on Ctrl-C or SIGTERM."""
    from inference.models import resolve_model
    from inference.serving.launch import ServeError, ServerSettings, start

    try:
        settings = ServerSettings(
            resolve_model(model).path,
            impl=impl,
            host=host,
            port=port,
            parallel=parallel,
            threads=threads,
            ctx_per_slot=ctx_per_slot,
            allow_remote=allow_remote,
        )
        log_path = log or Path(sys.prefix) / f"{impl}-{port}.log"
        typer.echo(f"starting {impl} for {settings.model} on {settings.url} (log: {log_path}) ...")
        server = start(settings, log_path)
    except (ServeError, ValueError, OSError) as exc:
        raise fail(exc) from exc
    signal.signal(signal.SIGTERM, _interrupt)
    typer.echo(f"serving: use --server {server.url} (SERVER={server.url} with make); Ctrl-C stops it")
    try:
        code = server.process.wait()
    except KeyboardInterrupt:
        typer.echo("stopping ...")
        server.stop()
        typer.echo("stopped")
        return
    raise fail(RuntimeError(f"the server exited by itself with {code}; see {log_path}"))


def _interrupt(signum: int, frame: object) -> None:
    """SIGTERM (a supervisor's, `kill`) stops the server the same way as Ctrl-C."""
    raise KeyboardInterrupt
