"""Duplicate clusters as steps over partitions of an edge list, for an engine that shuffles between them.

Each function here sees one hash partition and returns frames; the engine routes rows between steps
(`etl/cluster/finalize.py` does it with Ray tasks). Connected components use the alternating
large-star / small-star steps of Kiveris et al. 2014 ("Connected Components in MapReduce and Beyond"):
each step groups edges by one endpoint, so no process sees more than its partition, and the edge
list converges in O(log^2 n) rounds to one star per component around its smallest id. The cluster id
and kept member then match the local engine's `duplicate_clusters`: the smallest segment_id, and the
smallest id among members that pass the other filters (else the smallest overall).

Node ids are segment_id strings, compared as strings, as DuckDB and the local engine compare them.
"""

from __future__ import annotations

import polars as pl

EDGES = {"a": pl.String, "b": pl.String}
KEYS = {"band_index": pl.Int16, "band_hash": pl.UInt64, "segment_id": pl.String}
MEMBERS = {"segment_id": pl.String, "passes": pl.Boolean, "file_index": pl.Int32}
CLUSTERS = {
    "segment_id": pl.String,
    "dup_cluster": pl.String,
    "is_duplicate": pl.Boolean,
    "file_index": pl.Int32,
}
_SEED = 0x5EED


def partition_index(column: str, n: int) -> pl.Expr:
    """The partition of each row: a hash of `column`, stable across processes and machines (same polars)."""
    return (pl.col(column).hash(seed=_SEED) % n).cast(pl.Int64)


def hash_partition(frame: pl.DataFrame, column: str, n: int) -> list[pl.DataFrame]:
    """`frame` split into `n` frames by the hash of `column` (empty frames where no row falls)."""
    return split_by(frame, partition_index(column, n), n)


def split_by(frame: pl.DataFrame, index: pl.Expr, n: int) -> list[pl.DataFrame]:
    """`frame` split into `n` frames by an integer expression in [0, n)."""
    parts = frame.with_columns(_part=index).partition_by("_part", as_dict=True, include_key=False)
    empty = frame.clear()
    return [parts.get((i,), empty) for i in range(n)]


def band_keys(segments: pl.DataFrame) -> pl.DataFrame:
    """(band_index, band_hash, segment_id) per LSH band of each segment, plus the exact-text key as
    band -1: two segments sharing a key are candidate duplicates (as `sql/etl/dedup_edges.sql`)."""
    exact = segments.select(
        band_index=pl.lit(-1, pl.Int16),
        band_hash=pl.col("text_hash").cast(pl.UInt64),
        segment_id="segment_id",
    )
    near = (
        segments.filter(pl.col("bands").is_not_null())
        .select(
            "segment_id",
            "bands",
            band_index=pl.int_ranges(pl.col("bands").list.len()).cast(pl.List(pl.Int16)),
        )
        .explode("bands", "band_index")
        .select("band_index", band_hash="bands", segment_id="segment_id")
    )
    return pl.concat([exact, near.cast(KEYS)]).cast(KEYS)


def key_edges(keys: pl.DataFrame) -> pl.DataFrame:
    """Star edges (smallest id, member) of every key shared by two or more segments."""
    return (
        keys.unique()
        .group_by("band_index", "band_hash")
        .agg(pl.col("segment_id"), a=pl.col("segment_id").min(), n=pl.len())
        .filter(pl.col("n") > 1)
        .explode("segment_id")
        .select("a", b="segment_id")
        .filter(pl.col("a") != pl.col("b"))
        .unique()
        .cast(EDGES)
    )


def both_directions(edges: pl.DataFrame) -> pl.DataFrame:
    """(u, v) and (v, u) for every edge: the adjacency lists, to be partitioned by u."""
    return pl.concat([edges.select(u="a", v="b"), edges.select(u="b", v="a")])


def downward(edges: pl.DataFrame) -> pl.DataFrame:
    """Each edge as (u, v) with v < u: the smaller neighbours of u, to be partitioned by u."""
    return edges.select(u=pl.max_horizontal("a", "b"), v=pl.min_horizontal("a", "b"))


def large_star(adjacency: pl.DataFrame) -> tuple[pl.DataFrame, int]:
    """Link every larger neighbour of u to the smallest of u and its neighbours. Returns the new edges
    of this partition and how many of them moved (0 everywhere means nothing changed)."""
    smallest = adjacency.group_by("u").agg(m=pl.col("v").min()).with_columns(m=pl.min_horizontal("m", "u"))
    linked = adjacency.filter(pl.col("v") > pl.col("u")).join(smallest, on="u")
    moved = linked.filter(pl.col("m") != pl.col("u")).height
    return linked.select(a="v", b="m").unique().cast(EDGES), moved


def small_star(downward_edges: pl.DataFrame) -> tuple[pl.DataFrame, int]:
    """Link u and its smaller neighbours to the smallest of them. Returns the new edges and how many
    nodes had more than one smaller neighbour (0 everywhere means nothing changed)."""
    grouped = downward_edges.group_by("u").agg(pl.col("v").unique(), m=pl.col("v").min())
    moved = grouped.filter(pl.col("v").list.len() > 1).height
    others = grouped.explode("v").filter(pl.col("v") != pl.col("m")).select(a="v", b="m")
    return pl.concat([grouped.select(a="u", b="m"), others]).unique().cast(EDGES), moved


def labelled_members(adjacency: pl.DataFrame, members: pl.DataFrame) -> pl.DataFrame:
    """Once the edges are stars: every node's component (its smallest neighbour, or itself when
    smaller), joined to the members' rows (one per staged copy) of this partition."""
    labels = (
        adjacency.group_by("u")
        .agg(component=pl.col("v").min())
        .with_columns(component=pl.min_horizontal("component", "u"))
    )
    return labels.join(members, left_on="u", right_on="segment_id", how="left").select(
        segment_id="u",
        component="component",
        passes=pl.col("passes").fill_null(False),
        file_index="file_index",
    )


def kept_members(labelled: pl.DataFrame) -> pl.DataFrame:
    """Cluster rows of whole components: cluster id the smallest member, kept the smallest that passes."""
    kept = (
        labelled.unique(["segment_id", "component"])
        .sort(["component", "passes", "segment_id"], descending=[False, True, False])
        .group_by("component", maintain_order=True)
        .agg(kept=pl.col("segment_id").first())
    )
    return (
        labelled.join(kept, on="component")
        .select(
            "segment_id",
            dup_cluster="component",
            is_duplicate=pl.col("segment_id") != pl.col("kept"),
            file_index="file_index",
        )
        .unique(["segment_id", "file_index"])  # a segment staged twice in one file: one row
        .cast(CLUSTERS)
    )
