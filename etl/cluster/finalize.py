"""The public tables from the committed batches, on Ray: the local `finalize`, with every corpus-wide step
split over hash partitions so that no process holds more than its share.

1. One task per group of staged segment files reads ids, hashes and filter signals, and emits the LSH
   keys (partitioned by key) and the members' pass/fail flags (partitioned by segment id).
2. One task per key partition groups the keys (a distributed GROUP BY) into star edges.
3. Connected components: large-star and small-star rounds (`etl/dedup/components.py`), each a shuffle
   of the edges by node, until no partition changes.
4. Each node's component joins its member rows in the node's partition; a shuffle by component picks
   the kept member, and the cluster rows go to the writer of the batch file that holds the row.
5. Rows staged by two batches: a shuffle by row key finds them and keeps the first batch file's copy.
6. One writer task per group of batch files writes one part file of each table with `finish_file`,
   the local engine's function, so the rows are the local engine's rows.
"""

from __future__ import annotations

import math
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
import ray

from etl.dedup import components as cc
from etl.dedup.minhash import signature_bands
from etl.finalize import (
    ROW_KEYS,
    SCHEMAS,
    SIGNALS,
    FinalizeReport,
    filter_reasons,
    finish_file,
    summarize,
)
from etl.settings import Settings
from etl.timing import PhaseClock
from warehouse.store import STAGED_TABLES, Warehouse

_MAX_ROUNDS = 200  # large-star/small-star converges in O(log^2 n) rounds; this bounds a bug, not data
_ROW_KEY = {"row_key": pl.String, "file_index": pl.Int32}


def _group_of(n_files: int, n_groups: int) -> pl.Expr:
    """The writer group of each row's batch file, as `_chunks` cuts the files: contiguous runs."""
    return (pl.col("file_index") // max(1, math.ceil(n_files / n_groups))).cast(pl.Int64)


def _returns(parts: list[pl.DataFrame]) -> list[pl.DataFrame] | pl.DataFrame:
    """What a task called through `_refs` returns: Ray takes a task's one return value as it is."""
    return parts if len(parts) > 1 else parts[0]


def _refs(task, k: int, *args) -> list[ray.ObjectRef]:
    """Call a task that returns k objects: always a list of k references (Ray gives a bare one for 1)."""
    refs = task.options(num_returns=k).remote(*args)
    return refs if k > 1 else [refs]


@ray.remote
def _segment_keys(files: list[tuple[int, str]], settings: Settings, n: int) -> list[pl.DataFrame]:
    """n key partitions, then n member partitions, for a group of staged segment files."""
    keys, members = [pl.DataFrame(schema=cc.KEYS)], [pl.DataFrame(schema=cc.MEMBERS)]
    for index, path in files:
        frame = pl.read_parquet(path, columns=[*SIGNALS, "text_hash", "minhash"])
        keys.append(cc.band_keys(frame.with_columns(bands=signature_bands(frame["minhash"], settings.dedup))))
        members.append(
            frame.select(
                "segment_id",
                passes=filter_reasons(settings).list.len() == 0,
                file_index=pl.lit(index, pl.Int32),
            )
        )
    return [
        *cc.hash_partition(pl.concat(keys), "band_hash", n),
        *cc.hash_partition(pl.concat(members), "segment_id", n),
    ]


@ray.remote
def _key_edges(*parts: pl.DataFrame) -> pl.DataFrame:
    return cc.key_edges(pl.concat(parts))


@ray.remote
def _adjacency(n: int, edges: pl.DataFrame) -> list[pl.DataFrame]:
    return _returns(cc.hash_partition(cc.both_directions(edges), "u", n))


@ray.remote
def _downward(n: int, edges: pl.DataFrame) -> list[pl.DataFrame]:
    return _returns(cc.hash_partition(cc.downward(edges), "u", n))


@ray.remote(num_returns=2)
def _large_star(*parts: pl.DataFrame) -> tuple[pl.DataFrame, int]:
    return cc.large_star(pl.concat(parts))


@ray.remote(num_returns=2)
def _small_star(*parts: pl.DataFrame) -> tuple[pl.DataFrame, int]:
    return cc.small_star(pl.concat(parts))


@ray.remote
def _labelled(n: int, n_members: int, *parts: pl.DataFrame) -> list[pl.DataFrame]:
    """Components joined to member rows in one node partition, re-partitioned by component."""
    members, adjacency = pl.concat(parts[:n_members]), pl.concat(parts[n_members:])
    return _returns(cc.hash_partition(cc.labelled_members(adjacency, members), "component", n))


@ray.remote
def _kept(n_files: int, n_groups: int, *parts: pl.DataFrame) -> list[pl.DataFrame]:
    return _returns(cc.split_by(cc.kept_members(pl.concat(parts)), _group_of(n_files, n_groups), n_groups))


@ray.remote
def _row_keys(table: str, files: list[tuple[int, str]], n: int) -> list[pl.DataFrame]:
    frames = [pl.DataFrame(schema=_ROW_KEY)] + [
        pl.read_parquet(path).select(row_key=ROW_KEYS[table], file_index=pl.lit(index, pl.Int32))
        for index, path in files
    ]
    return _returns(cc.hash_partition(pl.concat(frames), "row_key", n))


@ray.remote
def _repeated(n_files: int, n_groups: int, *parts: pl.DataFrame) -> list[pl.DataFrame]:
    """Copies to drop: every copy of a row staged more than once, except the first batch file's."""
    rows = pl.concat(parts)
    first = pl.col("file_index").min().over("row_key")
    drop = rows.filter((pl.len().over("row_key") > 1) & (pl.col("file_index") != first)).unique()
    return _returns(cc.split_by(drop, _group_of(n_files, n_groups), n_groups))


@ray.remote
def _write(
    table: str, files: list[tuple[int, str]], out: str, settings: Settings, n_drops: int, *parts: pl.DataFrame
) -> int:
    """One part file of `table` from a group of batch files, in batch order: `parts` are this group's
    copies to drop (n_drops frames), then, for segments, its cluster rows."""
    drops = pl.concat([pl.DataFrame(schema=_ROW_KEY), *parts[:n_drops]])
    clusters = pl.concat([pl.DataFrame(schema=cc.CLUSTERS), *parts[n_drops:]])
    schema = SCHEMAS[table]
    rows = 0
    with pq.ParquetWriter(out, schema, compression="zstd") as writer:
        for index, path in files:
            own_drops = drops.filter(pl.col("file_index") == index)
            own_clusters = clusters.filter(pl.col("file_index") == index).drop("file_index")
            frame = finish_file(table, pl.read_parquet(path), own_drops, own_clusters, settings)
            writer.write_table(frame.to_arrow().select(schema.names).cast(schema))
            rows += frame.height
    return rows


def _chunks(items: list, n: int) -> list[list]:
    """`items` in at most n contiguous runs; one empty run for no items."""
    size = max(1, math.ceil(len(items) / n))
    return [items[i : i + size] for i in range(0, len(items), size)] or [[]]


def _shuffle(mapper, inputs: list[ray.ObjectRef], n: int) -> list[list[ray.ObjectRef]]:
    """Per partition, its parts from every map task; `mapper(n, x)` returns n frames."""
    outputs = [_refs(mapper, n, n, x) for x in inputs]
    return [[out[i] for out in outputs] for i in range(n)]


def connected_components(edges: list[ray.ObjectRef], n: int) -> tuple[list[ray.ObjectRef], int]:
    """Large-star and small-star rounds until no partition changes: the edges end as one star per
    component, around its smallest id. Returns the star edges' partitions and the rounds taken."""
    for round_ in range(1, _MAX_ROUNDS + 1):
        large = [_large_star.remote(*parts) for parts in _shuffle(_adjacency, edges, n)]
        small = [_small_star.remote(*parts) for parts in _shuffle(_downward, [e for e, _ in large], n)]
        edges = [e for e, _ in small]
        if sum(ray.get([m for _, m in large] + [m for _, m in small])) == 0:
            return edges, round_
    raise RuntimeError(f"connected components did not converge in {_MAX_ROUNDS} rounds")


def duplicate_clusters_on_ray(
    segment_files: list[tuple[int, str]], settings_ref: ray.ObjectRef, n: int, n_groups: int
) -> list[list[ray.ObjectRef]]:
    """Steps 1-4: per writer group, the references to its cluster rows."""
    mapped = [_refs(_segment_keys, 2 * n, g, settings_ref, n) for g in _chunks(segment_files, n_groups)]
    edges = [_key_edges.remote(*[m[i] for m in mapped]) for i in range(n)]
    stars, _ = connected_components(edges, n)
    adjacency = _shuffle(_adjacency, stars, n)
    labelled = [
        _refs(_labelled, n, n, len(mapped), *[m[n + i] for m in mapped], *adjacency[i]) for i in range(n)
    ]
    n_files = len(segment_files)
    kept = [_refs(_kept, n_groups, n_files, n_groups, *[lab[i] for lab in labelled]) for i in range(n)]
    return [[k[g] for k in kept] for g in range(n_groups)]


def finalize_on_ray(warehouse: Warehouse, settings: Settings, workers: int) -> FinalizeReport:
    batch_ids, stale = warehouse.committed_batches(settings.staging_fingerprint())
    report = FinalizeReport(batches=len(batch_ids), stale_batches=stale)
    clock = PhaseClock(report.phases)
    staged = {t: list(enumerate(warehouse.staged_files(t, batch_ids))) for t in STAGED_TABLES}
    n_files = len(batch_ids)
    n = max(1, workers)  # hash partitions of every shuffle
    n_groups = max(1, min(n_files, 4 * workers))  # writer tasks, and part files, per table
    n_groups = len(_chunks(staged["segments"], n_groups))  # contiguous runs can come out fewer
    settings_ref = ray.put(settings)
    clusters = duplicate_clusters_on_ray(staged["segments"], settings_ref, n, n_groups)
    for table in STAGED_TABLES:
        files = staged[table]
        keyed = [_refs(_row_keys, n, table, g, n) for g in _chunks(files, n_groups)]
        repeated = [_refs(_repeated, n_groups, n_files, n_groups, *[k[i] for k in keyed]) for i in range(n)]

        def build(folder: Path, table: str = table, files=files, repeated=repeated) -> None:
            writes = [
                _write.remote(
                    table,
                    group,
                    str(folder / f"part-{g:05d}.parquet"),
                    settings_ref,
                    len(repeated),
                    *[r[g] for r in repeated],
                    *(clusters[g] if table == "segments" else []),
                )
                for g, group in enumerate(_chunks(files, n_groups))
            ]
            ray.get(writes)

        warehouse.replace_table(table, build)
    # The tasks above run as a graph, so their steps overlap: one figure for all of them.
    clock.lap("dedup and write tables (Ray tasks)")
    report.funnel, report.reasons = summarize(warehouse)
    clock.lap("funnel")
    return report
