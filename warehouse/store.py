"""The warehouse folder: staged batches, their commit manifests, and the public tables.

Layout:
    <root>/documents/*.parquet, <root>/segments/*.parquet, <root>/rejects/*.parquet   public tables
    <root>/_staging/<table>/<batch_id>.parquet                                        per-batch results
    <root>/_staging/manifests/<batch_id>.json                                         commit marker

A batch counts as done only once its manifest exists; the manifest is written after its Parquet
files, each write going to a temporary file that is then renamed. A run killed at any point leaves
either a committed batch or files that the next run overwrites. The public tables are rebuilt from
the committed batches into a new folder that replaces the old one, so readers never see half a table.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

STAGED_TABLES = ("documents", "segments", "rejects")


@contextmanager
def _atomic(path: Path) -> Iterator[Path]:
    """A temporary path to write; renamed to `path` once the write has finished."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    yield tmp
    os.replace(tmp, path)


def write_parquet_atomic(table: pa.Table, path: Path) -> None:
    with _atomic(path) as tmp:
        pq.write_table(table, tmp, compression="zstd")


def write_text_atomic(text: str, path: Path) -> None:
    with _atomic(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json_atomic(data: dict[str, Any], path: Path) -> None:
    write_text_atomic(json.dumps(data, sort_keys=True), path)


class WarehouseBusy(RuntimeError):
    pass


class Warehouse:
    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        """Hold the warehouse for one run: two runs at once would race when they swap the tables."""
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / ".lock", "w") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError as exc:
                raise WarehouseBusy(f"another run is using the warehouse {self.root}") from exc
            yield  # the lock goes with the file descriptor, also if the process dies

    # Public tables -----------------------------------------------------------------------------
    def table_dir(self, name: str) -> Path:
        return self.root / name

    def table_glob(self, name: str) -> str:
        """The path pattern DuckDB's read_parquet takes for a table."""
        return str(self.table_dir(name) / "**" / "*.parquet")

    def replace_table(self, name: str, build: Callable[[Path], None]) -> None:
        """Let `build` fill a fresh folder, then swap it in for the table's folder."""
        self.root.mkdir(parents=True, exist_ok=True)
        fresh = self.root / f".{name}.new-{os.getpid()}"
        old = self.root / f".{name}.old-{os.getpid()}"
        shutil.rmtree(fresh, ignore_errors=True)
        fresh.mkdir()
        build(fresh)
        target = self.table_dir(name)
        if target.exists():
            os.replace(target, old)
        os.replace(fresh, target)
        shutil.rmtree(old, ignore_errors=True)

    # Staged batches ----------------------------------------------------------------------------
    @property
    def staging_dir(self) -> Path:
        return self.root / "_staging"

    def staged_path(self, table: str, batch_id: str) -> Path:
        return self.staging_dir / table / f"{batch_id}.parquet"

    def manifest_path(self, batch_id: str) -> Path:
        return self.staging_dir / "manifests" / f"{batch_id}.json"

    def read_manifest(self, batch_id: str) -> dict[str, Any] | None:
        try:
            return json.loads(self.manifest_path(batch_id).read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return None

    def is_committed(self, batch_id: str, fingerprint: str) -> bool:
        manifest = self.read_manifest(batch_id)
        return manifest is not None and manifest.get("fingerprint") == fingerprint

    def write_staged(self, batch_id: str, tables: dict[str, pa.Table]) -> None:
        """A batch's staged files; not yet committed (see `commit`)."""
        for name in STAGED_TABLES:
            write_parquet_atomic(tables[name], self.staged_path(name, batch_id))

    def commit(self, batch_id: str, manifest: dict[str, Any]) -> None:
        """Mark a batch whose staged files are written as done."""
        write_json_atomic(manifest | {"batch_id": batch_id}, self.manifest_path(batch_id))

    def committed_batches(self, fingerprint: str) -> tuple[list[str], int]:
        """Batch ids committed under `fingerprint`, and the number committed under other settings."""
        current, stale = [], 0
        for path in sorted((self.staging_dir / "manifests").glob("*.json")):
            try:
                manifest = json.loads(path.read_text())
            except json.JSONDecodeError:
                continue
            if manifest.get("fingerprint") == fingerprint:
                current.append(manifest["batch_id"])
            else:
                stale += 1
        return current, stale

    def staged_files(self, table: str, batch_ids: list[str]) -> list[str]:
        return [str(self.staged_path(table, b)) for b in batch_ids]

    # Append-only tables (model stages) ---------------------------------------------------------
    def append_part(self, name: str, table: pa.Table, part_id: str) -> Path:
        """Add one committed batch to an append-only table: a single atomic file per batch."""
        path = self.table_dir(name) / f"part-{part_id}.parquet"
        write_parquet_atomic(table, path)
        return path

    def remove_unfinished_writes(self, name: str) -> int:
        """Temporary files a killed run left behind in a table's folder; readers never see them."""
        leftovers = list(self.table_dir(name).glob(".*.tmp-*"))
        for path in leftovers:
            path.unlink(missing_ok=True)
        return len(leftovers)

    def has_table(self, name: str) -> bool:
        return any(self.table_dir(name).glob("**/*.parquet"))
