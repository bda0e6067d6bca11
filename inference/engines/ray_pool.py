"""A model stage on Ray: a pool of actors, each holding a llama.cpp model or calling its own server.

The driver selects the pending rows and commits the batches, as with one in-process engine; only
`compute(engine, chunk)` runs in the actors. Each actor takes `cpus_per_actor` CPUs (llama.cpp's
threads), so a node of 16 cores and 4 CPUs per actor holds 4 models. An actor that dies (its process
or its node) is restarted by Ray, on any node with room, and the calls it held are retried there
(`max_restarts`, `max_task_retries`). A batch's file is written by the driver once its result is
back, under a name that is a hash of its keys, so a retried batch never adds rows twice.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import polars as pl
import ray

from inference.engines.base import Choice, Completion, Engine, Likelihood, Piece
from inference.sampling import Sampling


@ray.remote(max_restarts=-1, max_task_retries=3)
class ModelActor:
    """One engine, opened in the actor's process on whatever node Ray placed it."""

    def __init__(
        self, model: str | None, server: str | None, parallel: int, threads: int, n_ctx: int
    ) -> None:
        from inference.engines import open_engine

        self.engine = open_engine(model, server, parallel=parallel, threads=threads, n_ctx=n_ctx)

    def identity(self) -> tuple[str, str]:
        return self.engine.model_id, self.engine.model_source

    def run(
        self, compute: Callable[[Engine, pl.DataFrame], pl.DataFrame], chunk: pl.DataFrame
    ) -> pl.DataFrame:
        return compute(self.engine, chunk)

    def choose(self, prefix: str, suffixes: Sequence[str], candidates: Sequence[str]) -> list[Choice]:
        return self.engine.choose(prefix, suffixes, candidates)

    def complete(
        self,
        prefix: str,
        suffixes: Sequence[str],
        sampling: Sampling,
        seeds: Sequence[int],
        stop: Sequence[str],
    ) -> list[Completion]:
        return self.engine.complete(prefix, suffixes, sampling, seeds, stop)

    def sample(
        self,
        prefix: str,
        suffixes: Sequence[str],
        sampling: Sampling,
        seeds: Sequence[Sequence[int]],
        stop: Sequence[str],
    ) -> list[list[Completion]]:
        return self.engine.sample(prefix, suffixes, sampling, seeds, stop)

    def likelihood(
        self, prefix: str, rows: Sequence[Sequence[Piece]], candidates: Sequence[str] = ()
    ) -> list[Likelihood]:
        return self.engine.likelihood(prefix, rows, candidates)


class RayModelPool:
    """An `Engine` whose batches run on a pool of `ModelActor`s.

    `model`: a GGUF path every node can read (default: the embedded model, installed on every node).
    `servers`: llama.cpp server URLs instead, one actor per server. `actors`: how many (default: the
    cluster's CPUs // `cpus_per_actor`).
    """

    def __init__(
        self,
        model: str | None = None,
        servers: Sequence[str] = (),
        *,
        actors: int | None = None,
        cpus_per_actor: int = 2,
        parallel: int = 8,
        n_ctx: int = 16384,
        address: str | None = None,
    ) -> None:
        from common.ray_runtime import cluster_cpus, start_ray

        start_ray(address)
        if servers:  # a server does the compute; its actor only makes requests
            self.actors = [
                ModelActor.options(num_cpus=0).remote(None, url, parallel, 1, n_ctx) for url in servers
            ]
        else:
            count = actors or max(1, cluster_cpus() // cpus_per_actor)
            self.actors = [
                ModelActor.options(num_cpus=cpus_per_actor).remote(
                    model, None, parallel, cpus_per_actor, n_ctx
                )
                for _ in range(count)
            ]
        identities = set(ray.get([actor.identity.remote() for actor in self.actors]))
        if len({model_id for model_id, _ in identities}) != 1:
            raise ValueError(f"the actors hold different models: {sorted(identities)}")
        self.model_id = next(iter(identities))[0]
        # several servers of one model: each row came from one of them
        self.model_source = ",".join(sorted({source for _, source in identities}))

    def map_batches(
        self, compute: Callable[[Engine, pl.DataFrame], pl.DataFrame], chunks: Sequence[pl.DataFrame]
    ) -> Iterator[tuple[int, pl.DataFrame]]:
        """Two chunks in flight per actor (one decoding, one queued), results as they finish."""
        compute_ref = ray.put(compute)
        free = [actor for actor in self.actors for _ in range(2)]
        running: dict[ray.ObjectRef, tuple[int, object]] = {}
        queue = list(enumerate(chunks))[::-1]
        while queue or running:
            while queue and free:
                index, chunk = queue.pop()
                actor = free.pop()
                running[actor.run.remote(compute_ref, chunk)] = (index, actor)
            [done], _ = ray.wait(list(running), num_returns=1)
            index, actor = running.pop(done)
            free.append(actor)
            yield index, ray.get(done)

    def choose(self, prefix: str, suffixes: Sequence[str], candidates: Sequence[str]) -> list[Choice]:
        return ray.get(self.actors[0].choose.remote(prefix, suffixes, candidates))

    def complete(
        self,
        prefix: str,
        suffixes: Sequence[str],
        sampling: Sampling,
        seeds: Sequence[int],
        stop: Sequence[str],
    ) -> list[Completion]:
        return ray.get(self.actors[0].complete.remote(prefix, suffixes, sampling, seeds, stop))

    def sample(
        self,
        prefix: str,
        suffixes: Sequence[str],
        sampling: Sampling,
        seeds: Sequence[Sequence[int]],
        stop: Sequence[str],
    ) -> list[list[Completion]]:
        return ray.get(self.actors[0].sample.remote(prefix, suffixes, sampling, seeds, stop))

    def likelihood(
        self, prefix: str, rows: Sequence[Sequence[Piece]], candidates: Sequence[str] = ()
    ) -> list[Likelihood]:
        return ray.get(self.actors[0].likelihood.remote(prefix, rows, candidates))

    def close(self) -> None:
        for actor in self.actors:
            ray.kill(actor)
        self.actors = []
