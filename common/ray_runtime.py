"""Start or join Ray: a local instance bound to 127.0.0.1, or an existing cluster at an address."""

from __future__ import annotations

import os

# Every Ray worker runs one task per CPU it holds: polars' own thread pool on top of that would
# oversubscribe the cores, as in the local engine's worker processes (etl/processes.py).
WORKER_ENV = {"POLARS_MAX_THREADS": "1", "RAY_USAGE_STATS_ENABLED": "0"}


def start_ray(address: str | None = None, num_cpus: int | None = None) -> None:
    """Join the cluster at `address` ("auto" for the one `ray start` runs on this node), or start a
    local instance of `num_cpus` CPUs (default: all cores) on 127.0.0.1 only. A no-op when Ray is
    already initialised in this process."""
    import ray

    if ray.is_initialized():
        return
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # no telemetry: the machine may be offline
    runtime_env = {"env_vars": WORKER_ENV}
    if address:
        ray.init(address=address, runtime_env=runtime_env, log_to_driver=False)
        return
    _loopback_only()
    # A local instance's processes inherit this environment; a runtime_env would route every
    # worker's start through Ray's runtime-env agent, which costs time on a small machine.
    for name, value in WORKER_ENV.items():
        os.environ.setdefault(name, value)
    ray.init(
        num_cpus=num_cpus or os.cpu_count() or 1,
        include_dashboard=False,
        _node_ip_address="127.0.0.1",
        log_to_driver=False,
        # The object store holds batches in flight, not the corpus: a bounded one suits a laptop.
        object_store_memory=512 * 1024**2,
    )


def _loopback_only() -> None:
    """Keep a local instance on 127.0.0.1. Ray otherwise advertises the machine's outward address
    even for `_node_ip_address="127.0.0.1"`; its own switch for this (used on macOS and Windows) is
    read from the environment by Ray's processes and from `ray_constants` by this one."""
    from ray._private import ray_constants

    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    ray_constants.ENABLE_RAY_CLUSTER = False


def cluster_cpus() -> int:
    import ray

    return max(1, int(ray.cluster_resources().get("CPU", 1)))


def stop_ray() -> None:
    import ray

    if ray.is_initialized():
        ray.shutdown()
