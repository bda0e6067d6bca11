"""Where a model stage runs, from the CLI's options, and how a command runs one stage."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import typer

from humpback.cli.options import fail

if TYPE_CHECKING:  # imported lazily at run time, so `humpback --help` stays quick
    from inference.engines.base import Engine


@dataclass(frozen=True)
class StageEngine:
    """Where a model stage runs: the CLI's model, server, engine and sizing options."""

    model: str | None
    server: str | None
    parallel: int
    threads: int | None
    engine: str = "local"
    address: str | None = None
    actors: int | None = None
    cpus_per_actor: int = 2
    n_ctx: int = 16384  # the engines' default; iterate's short chat prompts ask for less

    def open(self) -> Engine:
        if self.engine == "ray":
            from inference.engines.ray_pool import RayModelPool

            servers = [url.strip() for url in self.server.split(",")] if self.server else []
            return RayModelPool(
                self.model,
                servers,
                actors=self.actors,
                cpus_per_actor=self.cpus_per_actor,
                parallel=self.parallel,
                n_ctx=self.n_ctx,
                address=self.address,
            )
        if self.engine != "local":
            raise ValueError(f"unknown engine {self.engine!r}: choose local or ray")
        if self.address:
            raise ValueError("--address needs --engine ray")
        from inference.engines import open_engine

        return open_engine(
            self.model, self.server, parallel=self.parallel, threads=self.threads, n_ctx=self.n_ctx
        )


def run_model_stage(
    where: StageEngine, run: Callable[[Engine], Any], describe: Callable[[Any], str] | None = None
) -> None:
    """Open the model, run one stage with it, close it, print the stage's summary (`describe`, default
    `format_stage`); errors become messages."""
    from inference.summary import format_stage

    try:
        engine = where.open()
    except (OSError, ValueError, RuntimeError) as exc:
        raise fail(exc) from exc
    try:
        report = run(engine)
    except (ValueError, RuntimeError) as exc:  # a busy warehouse, no seeds, a server or decode failure
        raise fail(exc) from exc
    finally:
        engine.close()
    typer.echo((describe or format_stage)(report))
