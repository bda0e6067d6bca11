"""Build the public tables from the committed batches: filters, corpus-wide dedup, atomic swap.

Thresholds (language, quality) apply here, over the signal columns the workers staged, so a rerun
with other thresholds rebuilds the tables without extracting anything again.
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
from etl.filters.language import language_reason
from etl.filters.quality import quality_reasons
from etl.settings import Settings
from warehouse.schemas import DOCUMENTS, REJECTS, SEGMENTS, STAGED_SEGMENTS
from warehouse.store import Warehouse

_SIGNALS = [
    "segment_id",
    "lang",
    "lang_score",
    "n_chars",
    "n_words",
    "header_upper_ratio",
    "symbol_word_ratio",
    "bullet_line_ratio",
    "ellipsis_line_ratio",
    "alpha_word_ratio",
    "mean_word_length",
    "stop_words",
    "boilerplate_line_ratio",
    "duplicate_line_ratio",
]
_PARQUET_FILE_BYTES = "256MB"


@dataclass
class FinalizeReport:
    batches: int = 0
    stale_batches: int = 0  # committed under other extraction settings, left out
    stages: list[tuple[str, str, int]] = field(default_factory=list)  # (stage, outcome, count)

    def count(self, stage: str, outcome: str | None = None) -> int:
        return sum(n for s, o, n in self.stages if s == stage and (outcome is None or o == outcome))


def filter_reasons(staged_files: list[str], settings: Settings) -> pl.DataFrame:
    """segment_id -> list of language and quality reasons (empty when it passes)."""
    if not staged_files:
        return pl.DataFrame(schema={"segment_id": pl.String, "reasons": pl.List(pl.String)})
    rules = [language_reason(settings.language), *quality_reasons(settings.quality)]
    return (
        pl.scan_parquet(staged_files)
        .select(_SIGNALS)
        .unique("segment_id", keep="first")
        .select("segment_id", reasons=pl.concat_list(rules).list.drop_nulls())
        .collect()
    )


def duplicate_clusters(edges: pa.Table, reasons: pl.DataFrame) -> pl.DataFrame:
    """Connected components of the duplicate edges. Cluster id: its smallest segment_id. Kept member:
    the smallest segment_id among members that pass the other filters (else the smallest overall)."""
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
    members = index.with_columns(component=labels).join(reasons, on="segment_id", how="left")
    return (
        members.with_columns(
            dup_cluster=pl.col("segment_id").min().over("component"),
            passes=pl.col("reasons").list.len().fill_null(1) == 0,
        )
        .sort(["component", "passes", "segment_id"], descending=[False, True, False])
        .with_columns(is_duplicate=pl.int_range(pl.len()).over("component") > 0)
        .select(schema.keys())
    )


def _register_staged(con: duckdb.DuckDBPyConnection, name: str, files: list[str], schema: pa.Schema) -> None:
    if files:
        con.execute(f"CREATE VIEW {name} AS SELECT * FROM read_parquet({files!r}, union_by_name = true)")
    else:
        con.register(name, schema.empty_table())


def _copy(con: duckdb.DuckDBPyConnection, query: str, schema: pa.Schema, folder: Path) -> None:
    """Write a query's rows, cast to the table schema, as Parquet files in `folder`."""
    reader = con.sql(query).to_arrow_reader(65_536)
    part, writer, rows_in_part = 0, None, 0
    for batch in reader:
        table = pa.Table.from_batches([batch]).select(schema.names).cast(schema)
        if writer is None:
            writer = pq.ParquetWriter(folder / f"part-{part:05d}.parquet", schema, compression="zstd")
        writer.write_table(table)
        rows_in_part += table.num_rows
        if rows_in_part >= 1_000_000:
            writer.close()
            writer, rows_in_part, part = None, 0, part + 1
    if writer is not None:
        writer.close()
    elif part == 0:
        pq.write_table(schema.empty_table(), folder / "part-00000.parquet")


def finalize(warehouse: Warehouse, settings: Settings, memory_limit: str = "4GB") -> FinalizeReport:
    batch_ids, stale = warehouse.committed_batches(settings.staging_fingerprint())
    report = FinalizeReport(batches=len(batch_ids), stale_batches=stale)
    staged = {t: warehouse.staged_files(t, batch_ids) for t in ("documents", "segments", "rejects")}
    con = duckdb.connect(config={"memory_limit": memory_limit})
    _register_staged(con, "staged_documents", staged["documents"], DOCUMENTS)
    _register_staged(con, "staged_segments", staged["segments"], STAGED_SEGMENTS)
    _register_staged(con, "staged_rejects", staged["rejects"], REJECTS)

    reasons = filter_reasons(staged["segments"], settings)
    clusters = duplicate_clusters(con.sql(sql.load("etl/dedup_edges")).to_arrow_table(), reasons)
    con.register("filter_reasons", reasons.to_arrow())
    con.register("dup_clusters", clusters.to_arrow())

    for table, schema in (("documents", DOCUMENTS), ("segments", SEGMENTS), ("rejects", REJECTS)):
        query = sql.load(f"etl/final_{table}")
        warehouse.replace_table(table, lambda folder, q=query, s=schema: _copy(con, q, s, folder))
        con.execute(
            f"CREATE OR REPLACE VIEW {table} AS SELECT * FROM read_parquet('{warehouse.table_glob(table)}')"
        )
    report.stages = [tuple(row) for row in con.execute(sql.load("etl/summary_stages")).fetchall()]
    con.close()
    return report
