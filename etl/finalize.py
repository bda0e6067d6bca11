"""Build the public tables from the committed batches: filters, corpus-wide dedup, atomic swap.

Thresholds (language, quality) apply here, over the signal columns the workers staged, so a rerun
with other thresholds rebuilds the tables without extracting anything again.

Memory stays flat as the corpus grows: DuckDB reads only ids and hashes for the corpus-wide steps
(duplicate edges, rows staged twice), under a memory limit past which it spills to disk; the tables
are then written one committed batch at a time, in batch-id order, so the output is deterministic
without a global sort.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

import sql
from common.quality_rules import SIGNAL_COLUMNS
from etl.dedup.minhash import lsh_params
from etl.filters.language import language_reason
from etl.filters.quality import quality_reasons
from etl.settings import Settings
from etl.timing import PhaseClock
from warehouse.schemas import DOCUMENTS, REJECTS, SEGMENTS, STAGED_SEGMENTS
from warehouse.store import STAGED_TABLES, Warehouse

SCHEMAS = {"documents": DOCUMENTS, "segments": SEGMENTS, "rejects": REJECTS}
_STAGED_SCHEMAS = {"documents": DOCUMENTS, "segments": STAGED_SEGMENTS, "rejects": REJECTS}
ROW_KEYS = {
    "documents": pl.col("doc_id") + "|" + pl.col("source"),
    "segments": pl.col("segment_id"),
    "rejects": pl.col("reject_id"),
}
_ROWS_PER_FILE = 500_000
# The staged columns the language and quality rules read.
SIGNALS = ["segment_id", "lang", "lang_score", "n_chars", "n_words", "n_lines", *SIGNAL_COLUMNS]


@dataclass
class FinalizeReport:
    batches: int = 0
    stale_batches: int = 0  # committed under other extraction settings, left out
    funnel: list[tuple[str, int]] = field(default_factory=list)  # (stage, count), in stage order
    reasons: list[tuple[str, str, int]] = field(default_factory=list)  # (reject|segment, reason, count)
    phases: dict[str, float] = field(default_factory=dict)  # seconds per step, in order

    def count(self, stage: str) -> int:
        return next((n for s, n in self.funnel if s == stage), 0)


def filter_reasons(settings: Settings) -> pl.Expr:
    """The list of language and quality reasons of each segment (empty when it passes)."""
    rules = [language_reason(settings.language), *quality_reasons(settings.quality)]
    return pl.concat_list(rules).list.drop_nulls().alias("reasons")


def duplicate_clusters(edges: pa.Table, passes: pl.DataFrame) -> pl.DataFrame:
    """Connected components of the duplicate edges. Cluster id: its smallest segment_id. Kept member:
    the smallest segment_id among members that pass the other filters (else the smallest overall).

    `passes` holds (segment_id, passes: bool) for at least the members of the edges.
    """
    schema = {"segment_id": pl.String, "dup_cluster": pl.String, "is_duplicate": pl.Boolean}
    if edges.num_rows == 0:
        return pl.DataFrame(schema=schema)
    frame = pl.from_arrow(edges)
    ids = pl.concat([frame["a"], frame["b"]]).unique().sort()
    index = pl.DataFrame({"segment_id": ids, "i": np.arange(len(ids))})
    coded = frame.join(index.rename({"segment_id": "a", "i": "ia"}), on="a").join(
        index.rename({"segment_id": "b", "i": "ib"}), on="b"
    )
    graph = coo_matrix(
        (np.ones(coded.height, dtype=np.int8), (coded["ia"].to_numpy(), coded["ib"].to_numpy())),
        shape=(len(ids), len(ids)),
    )
    _, labels = connected_components(graph, directed=False)
    members = index.with_columns(component=labels).join(
        passes.unique("segment_id"), on="segment_id", how="left"
    )
    return (
        members.with_columns(
            dup_cluster=pl.col("segment_id").min().over("component"),
            passes=pl.col("passes").fill_null(False),
        )
        .sort(["component", "passes", "segment_id"], descending=[False, True, False])
        .with_columns(is_duplicate=pl.int_range(pl.len()).over("component") > 0)
        .select(schema.keys())
    )


def member_passes(files: list[str], members: pl.Series, settings: Settings) -> pl.DataFrame:
    """(segment_id, passes, file) for the members of duplicate clusters: whether each passes the
    other filters, and the batch file that holds it. Reads one batch file at a time."""
    wanted = members.to_frame("segment_id")
    parts = [pl.DataFrame(schema={"segment_id": pl.String, "passes": pl.Boolean, "file": pl.String})]
    if wanted.height:
        for path in files:
            signals = pl.read_parquet(path, columns=SIGNALS).join(wanted, on="segment_id", how="semi")
            passes = filter_reasons(settings).list.len() == 0
            parts.append(signals.select("segment_id", passes=passes, file=pl.lit(path)))
    return pl.concat(parts)


class PartWriter:
    """Writes rows of one table into part files of at most _ROWS_PER_FILE rows."""

    def __init__(self, folder: Path, schema: pa.Schema) -> None:
        self.folder, self.schema = folder, schema
        self.part, self.rows, self.writer = 0, 0, None

    def write(self, table: pa.Table) -> None:
        if table.num_rows == 0:
            return
        if self.writer is None:
            path = self.folder / f"part-{self.part:05d}.parquet"
            self.writer = pq.ParquetWriter(path, self.schema, compression="zstd")
        self.writer.write_table(table.select(self.schema.names).cast(self.schema))
        self.rows += table.num_rows
        if self.rows >= _ROWS_PER_FILE:
            self.close()
            self.part, self.rows = self.part + 1, 0

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None
        elif self.part == 0 and self.rows == 0:  # an empty table is still a readable table
            pq.write_table(self.schema.empty_table(), self.folder / "part-00000.parquet")
            self.rows = -1


def finish_file(
    table: str, frame: pl.DataFrame, drop_keys: pl.DataFrame, clusters: pl.DataFrame, settings: Settings
) -> pl.DataFrame:
    """One staged batch file's rows of the public table: without `drop_keys` (rows another batch file
    also staged and keeps), and for segments with their filter reasons and duplicate flags from
    `clusters` (its rows of the duplicate clusters). Both engines build the tables with it."""
    if drop_keys.height:
        frame = (
            frame.with_columns(row_key=ROW_KEYS[table])
            .join(drop_keys.select("row_key"), on="row_key", how="anti")
            .drop("row_key")
        )
    if table == "segments":
        frame = _finish_segments(frame.drop("minhash"), clusters, settings)
    return frame


def _finish_segments(frame: pl.DataFrame, clusters: pl.DataFrame, settings: Settings) -> pl.DataFrame:
    flagged = frame.with_columns(filter_reasons(settings)).join(clusters, on="segment_id", how="left")
    is_duplicate = pl.col("is_duplicate").fill_null(False)
    return flagged.with_columns(
        is_duplicate=is_duplicate,
        keep=(pl.col("reasons").list.len() == 0) & ~is_duplicate,
        reasons=pl.when(is_duplicate)
        .then(pl.col("reasons").list.concat(pl.lit(["duplicate"])))
        .otherwise(pl.col("reasons")),
    )


def _connect(
    warehouse: Warehouse, staged: dict[str, list[str]], memory_limit: str
) -> duckdb.DuckDBPyConnection:
    spill = warehouse.staging_dir / "_spill"
    spill.mkdir(parents=True, exist_ok=True)
    # One thread and a small memory limit: this step only groups ids and hashes, and past the
    # limit DuckDB spills to disk, so the process stays the same size as the corpus grows.
    con = duckdb.connect(config={"memory_limit": memory_limit, "temp_directory": str(spill), "threads": 1})
    for table in STAGED_TABLES:
        files = staged[table]
        if files:
            con.execute(
                f"CREATE VIEW staged_{table} AS SELECT * FROM read_parquet({files!r}, filename = true)"
            )
        else:
            empty = _STAGED_SCHEMAS[table].empty_table().append_column("filename", pa.array([], pa.string()))
            con.register(f"staged_{table}", empty)
    return con


def finalize(warehouse: Warehouse, settings: Settings, memory_limit: str = "64MB") -> FinalizeReport:
    batch_ids, stale = warehouse.committed_batches(settings.staging_fingerprint())
    report = FinalizeReport(batches=len(batch_ids), stale_batches=stale)
    clock = PhaseClock(report.phases)
    staged = {t: warehouse.staged_files(t, batch_ids) for t in STAGED_TABLES}
    con = _connect(warehouse, staged, memory_limit)

    bands, rows = lsh_params(settings.dedup.threshold, settings.dedup.num_perm)
    edges = con.sql(sql.load("etl/dedup_edges"), params={"bands": bands, "band_rows": rows}).to_arrow_table()
    clock.lap("duplicate edges")
    members = pl.concat([pl.from_arrow(edges["a"]), pl.from_arrow(edges["b"])]).unique()
    passes = member_passes(staged["segments"], members, settings)
    clusters = duplicate_clusters(edges, passes.drop("file"))
    # Each batch file gets only its own cluster rows, so no join scans the whole cluster table.
    files = passes.select("segment_id", "file").unique()
    clusters_by_file = clusters.join(files, on="segment_id").partition_by(
        "file", as_dict=True, include_key=False
    )
    no_clusters = clusters.clear()
    clock.lap("duplicate clusters")
    repeated = pl.from_arrow(con.sql(sql.load("etl/repeated_rows")).to_arrow_table())
    clock.lap("rows staged twice")

    for table in STAGED_TABLES:
        dropped = repeated.filter(pl.col("table_name") == table)

        def build(folder: Path, table: str = table, dropped: pl.DataFrame = dropped) -> None:
            writer = PartWriter(folder, SCHEMAS[table])
            for path in staged[table]:
                others = dropped.filter(pl.col("keep_file") != path).select("row_key")
                own = clusters_by_file.get((path,), no_clusters)
                writer.write(finish_file(table, pl.read_parquet(path), others, own, settings).to_arrow())
            writer.close()

        warehouse.replace_table(table, build)
    con.close()
    clock.lap("write tables")
    report.funnel, report.reasons = summarize(warehouse)
    clock.lap("funnel")
    return report


def summarize(warehouse: Warehouse) -> tuple[list[tuple[str, int]], list[tuple[str, str, int]]]:
    """The funnel and the reason counts of a warehouse's public tables (the `funnel` views)."""
    from warehouse.views import connect_views

    con = connect_views(warehouse, sandbox=False)
    funnel = [(stage, n) for _, stage, n in con.sql("SELECT * FROM funnel").fetchall()]
    reasons = [tuple(row) for row in con.sql("SELECT * FROM funnel_reasons").fetchall()]
    con.close()
    return funnel, reasons
