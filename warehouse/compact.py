"""Compaction: merge a table's many small Parquet files into few big ones, atomically.

The model stages commit one file per batch (`Warehouse.append_part`): 32-row batches leave thousands
of files, and a query pays for every file it opens. Compaction writes the rows of the small files
into files of up to `target_rows` rows or `target_bytes` bytes (zstd, row groups of 122,880 rows as
DuckDB writes them), in a new generation of the table that also holds every other file (hard links),
then swaps the table's link to it (`Warehouse.swap_generation`): readers see the old files or the new
ones, never both and never neither. The old generation stays for the warehouse's grace period, for
the readers that listed its files before the swap.

Only the tables of `warehouse.schemas.COMPACTED_TABLES` are compacted: their rows are found by key,
so a stage resumed after a compaction still finds what is done. Compaction runs under the warehouse's
lock: `compact` takes it (WarehouseBusy if a run holds it); `compact_table` is for a run holding it.

Merged files keep the rows in the order the table's glob lists them (file name, then row), carry the
union of the small files' columns (a column a file lacks is null, as `union_by_name` reads it) and are
named `compact-<generation>-<n>.parquet`, a name no other generation uses.
"""

from __future__ import annotations

import fnmatch
import os
import shutil
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from warehouse.schemas import COMPACTED_TABLES, KEPT_BY_NAME, NOT_COMPACTED
from warehouse.store import Warehouse, WarehouseBusy

TARGET_ROWS = 500_000  # rows per merged file, as the ETL writes its public tables
TARGET_BYTES = 128 * 1024 * 1024  # compressed bytes per merged file, estimated from the inputs
ROW_GROUP_ROWS = 122_880  # DuckDB's row group size: its scans split work by row group
# The end of a stage run compacts a table only from this many files below the target: below that the
# files cost a reader ~0.1 ms each (a few ms in all) and a rewrite is not worth it; a table that grows
# a few files per run is merged once they add up. `humpback compact` merges from 2.
MIN_SMALL_FILES = 16


@dataclass
class CompactReport:
    table: str
    files_before: int
    files_after: int
    rows: int
    seconds: float
    merged: int = 0  # small files merged
    skipped: str = ""  # why nothing was merged

    @property
    def failed(self) -> bool:
        return self.skipped.startswith("failed")

    def describe(self) -> str:
        what = f"skipped: {self.skipped}" if self.skipped else f"merged {self.merged:,} small files"
        return (
            f"{self.table}: {self.files_before:,} -> {self.files_after:,} files, {self.rows:,} rows, "
            f"{self.seconds:.2f} s ({what})"
        )


@dataclass
class _File:
    path: Path
    relative: str
    rows: int
    data_bytes: int  # the file's size less its footer
    schema: pa.Schema


def _parquet_files(folder: Path) -> list[Path]:
    """The table's Parquet files, in the order `read_parquet('<folder>/**/*.parquet')` lists them.
    Hidden files are left out (never merged, carried over as they are)."""
    found = (p for p in folder.rglob("*.parquet") if p.is_file() and not p.name.startswith("."))
    return sorted(found, key=lambda p: str(p))


def _describe(path: Path, folder: Path) -> _File:
    meta = pq.read_metadata(path)
    size = path.stat().st_size
    return _File(
        path=path,
        relative=str(path.relative_to(folder)),
        rows=meta.num_rows,
        data_bytes=max(size - meta.serialized_size, 1),
        schema=meta.schema.to_arrow_schema().remove_metadata(),
    )


def _union_schema(files: list[_File]) -> pa.Schema:
    """Every column of the files, in order of first appearance; nullable where a file lacks it."""
    unified = pa.unify_schemas([f.schema for f in files], promote_options="permissive")
    everywhere = set.intersection(*(set(f.schema.names) for f in files))
    return pa.schema([f if f.name in everywhere else f.with_nullable(True) for f in unified])


class _MergedWriter:
    """Writes tables, in order, into files of at most `target_rows` rows (about `target_bytes`)."""

    def __init__(self, folder: Path, stem: str, schema: pa.Schema, target_rows: int, target_bytes: int):
        self.folder, self.stem, self.schema = folder, stem, schema
        self.target_rows, self.target_bytes = target_rows, target_bytes
        self.paths: list[Path] = []
        self.writer: pq.ParquetWriter | None = None
        self.buffer: list[pa.Table] = []
        self.buffered = self.file_rows = 0
        self.file_bytes = 0.0

    def add(self, table: pa.Table, data_bytes: int) -> None:
        per_row = data_bytes / max(table.num_rows, 1)
        while table.num_rows:
            if self.file_rows + self.buffered >= self.target_rows or self.file_bytes >= self.target_bytes:
                self._close_file()
                continue
            room = min(self.target_rows - self.file_rows - self.buffered, ROW_GROUP_ROWS - self.buffered)
            head, table = table.slice(0, room), table.slice(room)
            self.buffer.append(head)
            self.buffered += head.num_rows
            self.file_bytes += per_row * head.num_rows
            if self.buffered >= ROW_GROUP_ROWS:
                self._flush()

    def _flush(self) -> None:
        if not self.buffered:
            return
        if self.writer is None:
            path = self.folder / f"{self.stem}-{len(self.paths):05d}.parquet"
            self.paths.append(path)
            self.writer = pq.ParquetWriter(path, self.schema, compression="zstd")
        self.writer.write_table(pa.concat_tables(self.buffer).combine_chunks(), row_group_size=ROW_GROUP_ROWS)
        self.file_rows += self.buffered
        self.buffer, self.buffered = [], 0

    def _close_file(self) -> None:
        self._flush()
        if self.writer is not None:
            self.writer.close()
            with open(self.paths[-1], "rb+") as handle:  # on disk before the link points at it
                os.fsync(handle.fileno())
        self.writer, self.file_rows, self.file_bytes = None, 0, 0.0

    def close(self) -> list[Path]:
        self._close_file()
        return self.paths


def _read_in_order(paths: list[Path], schema: pa.Schema, union: bool) -> Iterator[pa.Table]:
    """The rows of `paths`, file after file, in batches of up to a row group, cast to `schema`.
    DuckDB reads them: it reads many small files about twice as fast as pyarrow, in order (its
    insertion order is kept); `union`: the files' columns differ, a missing one reads as null."""
    listing = "[" + ", ".join("'" + str(p).replace("'", "''") + "'" for p in paths) + "]"
    con = duckdb.connect(config={"preserve_insertion_order": True})
    try:
        con.execute("SET enable_progress_bar = false")
        scan = con.sql(f"SELECT * FROM read_parquet({listing}, union_by_name = {str(union).lower()})")
        for batch in scan.to_arrow_reader(ROW_GROUP_ROWS):
            table = pa.Table.from_batches([batch])
            yield table.select(schema.names).cast(schema)  # DuckDB's list item names, time zone name
    finally:
        con.close()


def _link_or_copy(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, target)
    except OSError:  # a file system without hard links
        shutil.copy2(source, target)


def compact_table(
    warehouse: Warehouse,
    table: str,
    *,
    target_rows: int = TARGET_ROWS,
    target_bytes: int = TARGET_BYTES,
    min_small_files: int = MIN_SMALL_FILES,
) -> CompactReport:
    """Merge `table`'s files below the target size once there are `min_small_files` of them (at least
    2). The caller holds `warehouse.exclusive()`."""
    if table not in COMPACTED_TABLES:
        why = NOT_COMPACTED.get(table, "not a table of the warehouse")
        raise ValueError(f"{table} is not compacted: {why}")
    if not warehouse.held:
        raise RuntimeError("compaction runs under warehouse.exclusive(): take it, or use compact()")
    started = time.perf_counter()
    folder = warehouse.table_path(table)
    if not folder.is_dir():
        return CompactReport(table, 0, 0, 0, time.perf_counter() - started, skipped="no table")
    kept_patterns = KEPT_BY_NAME.get(table, ())
    with ThreadPoolExecutor(min(16, os.cpu_count() or 4)) as pool:
        files = list(pool.map(lambda p: _describe(p, folder), _parquet_files(folder)))
        rows = sum(f.rows for f in files)
        small = [
            f
            for f in files
            if f.rows < target_rows
            and f.data_bytes < target_bytes
            and not any(fnmatch.fnmatch(f.path.name, pattern) for pattern in kept_patterns)
        ]
        if len(small) < max(min_small_files, 2):
            why = f"{len(small)} files below the target, fewer than {max(min_small_files, 2)}"
            seconds = time.perf_counter() - started
            return CompactReport(table, len(files), len(files), rows, seconds, skipped=why)

        warehouse.adopt_table(table)  # an older warehouse's real folder: into a generation first
        folder = warehouse.table_path(table)
        generation = warehouse.new_generation(table)
        try:
            merging = {f.relative for f in small}
            for entry in folder.rglob("*"):  # every other file, as it is
                relative = str(entry.relative_to(folder))
                if entry.is_file() and relative not in merging and ".tmp-" not in entry.name:
                    _link_or_copy(entry, generation / relative)
            writer = _MergedWriter(
                generation, f"compact-{generation.name}", _union_schema(small), target_rows, target_bytes
            )
            paths = [folder / f.relative for f in small]
            bytes_per_row = sum(f.data_bytes for f in small) / max(sum(f.rows for f in small), 1)
            union = len({tuple(f.schema.names) for f in small}) > 1
            for data in _read_in_order(paths, writer.schema, union):
                writer.add(data, round(bytes_per_row * data.num_rows))
            writer.close()
            after = list(pool.map(lambda p: _describe(p, generation), _parquet_files(generation)))
            if (written := sum(f.rows for f in after)) != rows:
                raise RuntimeError(f"compaction of {table} would change its rows ({rows:,} -> {written:,})")
        except BaseException:
            shutil.rmtree(generation, ignore_errors=True)
            raise
    warehouse.swap_generation(table, generation)
    return CompactReport(
        table, len(files), len(after), rows, time.perf_counter() - started, merged=len(small)
    )


def compact(
    warehouse: Warehouse | Path | str,
    tables: Iterable[str] | None = None,
    *,
    target_rows: int = TARGET_ROWS,
    target_bytes: int = TARGET_BYTES,
    min_small_files: int = 2,
) -> list[CompactReport]:
    """Compact `tables` (default: every compacted table the warehouse has), holding the warehouse:
    WarehouseBusy when a run holds it."""
    warehouse = warehouse if isinstance(warehouse, Warehouse) else Warehouse(warehouse)
    names = list(tables) if tables else [t for t in COMPACTED_TABLES if warehouse.table_dir(t).exists()]
    for name in names:
        if name not in COMPACTED_TABLES:
            why = NOT_COMPACTED.get(name, "not a table of the warehouse")
            raise ValueError(f"{name} is not compacted: {why}")
    with warehouse.exclusive():
        return [
            compact_table(
                warehouse,
                name,
                target_rows=target_rows,
                target_bytes=target_bytes,
                min_small_files=min_small_files,
            )
            for name in names
        ]


def compact_after_run(warehouse: Warehouse, table: str) -> CompactReport | None:
    """The end of a model stage's run: compact `table` if it is a compacted table with enough small
    files. Under the run's lock; a run that does not hold it takes it, and skips when it is busy.
    A compaction that fails (a full disk...) leaves the table as it was and does not fail the run,
    whose rows are committed: the report says why it was skipped."""
    if table not in COMPACTED_TABLES:
        return None
    started = time.perf_counter()
    try:
        if warehouse.held:
            return compact_table(warehouse, table)
        with warehouse.exclusive():
            return compact_table(warehouse, table)
    except WarehouseBusy:
        return None
    except (OSError, RuntimeError, ValueError, duckdb.Error, pa.ArrowException) as exc:
        seconds = time.perf_counter() - started
        return CompactReport(table, 0, 0, 0, seconds, skipped=f"failed, the table is as it was: {exc}")
