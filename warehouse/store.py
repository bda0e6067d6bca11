"""The warehouse folder: staged batches, their commit manifests, and the public tables.

Layout:
    <root>/<table>/**/*.parquet                 every table (documents, segments, scores...), read
                                                through the link below
    <root>/<table> -> .tables/<table>/<gen>     a relative symlink to the table's current generation
    <root>/.tables/<table>/<gen>/               one generation's files; <gen>.retired marks one that
                                                stopped being current, and when
    <root>/_staging/<table>/<batch_id>.parquet  per-batch results of the ETL
    <root>/_staging/manifests/<batch_id>.json   commit marker

A batch counts as done only once its manifest exists; the manifest is written after its Parquet
files, each write going to a temporary file that is then renamed. A run killed at any point leaves
either a committed batch or files that the next run overwrites. The public tables are rebuilt from
the committed batches into a new folder that replaces the old one, so readers never see half a table.

Generations. A table's files live in a generation folder; the table's path is a symlink to the current
one. Appends write through the link into the current generation. Rewriting a table (`replace_table`,
and the compaction of warehouse/compact.py) fills a new generation, then swaps the link with one
`os.replace`: a reader sees the old generation or the new one, never both and never none. Readers
resolve the link once (`table_path`, `table_glob`), so a reader that listed the old generation's files
goes on reading them: the previous generation stays for `grace_seconds` after the swap, and a later
swap or run of the warehouse (`exclusive`) removes it after that. A warehouse written before this layout
has a real folder at the table's path: the first rewrite moves it into a generation (`adopt_table`).
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import json
import os
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

STAGED_TABLES = ("documents", "segments", "rejects")
GENERATIONS = ".tables"  # <root>/.tables/<table>/<generation>/
GRACE_SECONDS = 600.0  # how long a replaced generation stays for the readers that listed its files


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


def _exchange(a: Path, b: Path) -> None:
    """Swap two paths in one system call (Linux renameat2 RENAME_EXCHANGE); OSError where unsupported."""
    renameat2 = getattr(ctypes.CDLL(None, use_errno=True), "renameat2", None)
    if renameat2 is None:
        raise OSError(errno.ENOSYS, "renameat2 is not available")
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    at_fdcwd, rename_exchange = -100, 2
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) != 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code), str(a))


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Warehouse:
    def __init__(self, root: Path | str, grace_seconds: float = GRACE_SECONDS) -> None:
        self.root = Path(root)
        self.grace_seconds = grace_seconds
        self.held = False  # this object holds the lock (inside `exclusive`)

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        """Hold the warehouse for one run: two runs at once would race when they swap the tables."""
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / ".lock", "w") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError as exc:
                raise WarehouseBusy(f"another run is using the warehouse {self.root}") from exc
            self.held = True
            try:
                self.remove_old_generations()
                yield  # the lock goes with the file descriptor, also if the process dies
            finally:
                self.held = False

    # Public tables -----------------------------------------------------------------------------
    def table_dir(self, name: str) -> Path:
        """The table's path: a link to its current generation (a real folder in an older warehouse).
        Write through it; read through `table_path`."""
        return self.root / name

    def table_path(self, name: str) -> Path:
        """The folder of the table's current generation, the link resolved now: a reader that lists
        it keeps a consistent set of files while the table is rewritten (see the module docstring)."""
        return Path(os.path.realpath(self.table_dir(name)))

    def table_glob(self, name: str) -> str:
        """The path pattern DuckDB's read_parquet takes for a table (its current generation)."""
        return str(self.table_path(name) / "**" / "*.parquet")

    def replace_table(self, name: str, build: Callable[[Path], None]) -> None:
        """Let `build` fill a fresh generation, then swap it in for the table's current one."""
        fresh = self.new_generation(name)
        try:
            build(fresh)
        except BaseException:
            shutil.rmtree(fresh, ignore_errors=True)
            raise
        self.swap_generation(name, fresh)

    # Generations ------------------------------------------------------------------------------
    def generations_dir(self, name: str) -> Path:
        return self.root / GENERATIONS / name

    def new_generation(self, name: str) -> Path:
        """An empty generation folder, not yet read by anyone (see `swap_generation`)."""
        folder = self.generations_dir(name) / f"g{time.time_ns()}-{os.getpid()}"
        folder.mkdir(parents=True)
        return folder

    def _link_target(self, name: str, generation: Path) -> str:
        return os.path.relpath(generation, self.table_dir(name).parent)  # relative: the folder can move

    def ensure_table(self, name: str) -> None:
        """Create an empty table (a link to an empty generation) unless the table's path exists."""
        if os.path.lexists(self.table_dir(name)):
            return
        generation = self.new_generation(name)
        try:
            os.symlink(self._link_target(name, generation), self.table_dir(name))
        except FileExistsError:  # made meanwhile by another writer: use that one
            shutil.rmtree(generation, ignore_errors=True)

    def adopt_table(self, name: str) -> None:
        """Move an older warehouse's real table folder into a generation, its path becoming a link.

        On Linux the folder and a link to its new place are exchanged by one renameat2 call: readers
        see the same files throughout. Where that call is missing (or the file system refuses it),
        two renames leave a window of two system calls in which the table's path does not exist.
        """
        link = self.table_dir(name)
        if link.is_symlink() or not link.is_dir():
            return
        generation = self.generations_dir(name) / f"g{time.time_ns()}-{os.getpid()}-adopted"
        generation.parent.mkdir(parents=True, exist_ok=True)
        target = self._link_target(name, generation)
        os.symlink(target, generation)  # the link, put where the folder goes; the exchange moves it
        try:
            _exchange(generation, link)
        except OSError:
            generation.unlink()
            os.rename(link, generation)
            os.symlink(target, link)

    def swap_generation(self, name: str, generation: Path) -> None:
        """Make `generation` the table's current one in one atomic step. The previous one is marked
        retired now and removed by a later swap or run once `grace_seconds` have passed."""
        link = self.table_dir(name)
        self.adopt_table(name)
        _fsync_dir(generation)
        previous = self.table_path(name)
        if previous.parent == self.generations_dir(name).resolve() and previous != generation.resolve():
            write_text_atomic(f"{time.time()}\n", previous.with_name(f"{previous.name}.retired"))
        tmp = link.with_name(f".{name}.link-{os.getpid()}")
        tmp.unlink(missing_ok=True)
        os.symlink(self._link_target(name, generation), tmp)
        os.replace(tmp, link)  # rename(2) of a link over a link: atomic
        _fsync_dir(link.parent)
        self.remove_old_generations(name)

    def remove_old_generations(self, name: str | None = None) -> list[Path]:
        """Delete generations that are not current and were retired more than `grace_seconds` ago
        (a generation never made current, left by a killed rewrite: its folder's age counts). Tables
        whose path is not a link are left alone. Returns the folders removed."""
        base = self.root / GENERATIONS
        tables = [name] if name is not None else sorted(p.name for p in base.glob("*") if p.is_dir())
        now, removed = time.time(), []
        for table in tables:
            link = self.table_dir(table)
            for leftover in link.parent.glob(f".{table}.link-*"):  # a killed swap's new link
                if leftover.is_symlink():
                    leftover.unlink(missing_ok=True)
            if not link.is_symlink():
                continue
            current = self.table_path(table)
            for folder in sorted(self.generations_dir(table).glob("g*")):
                if folder.suffix == ".retired" or folder.resolve() == current or not folder.is_dir():
                    continue
                marker = folder.with_name(f"{folder.name}.retired")
                try:
                    since = (marker if marker.exists() else folder).stat().st_mtime
                except FileNotFoundError:
                    continue
                if now - since >= self.grace_seconds:
                    shutil.rmtree(folder, ignore_errors=True)
                    marker.unlink(missing_ok=True)
                    removed.append(folder)
            for marker in self.generations_dir(table).glob("*.retired"):
                if not marker.with_suffix("").exists():
                    marker.unlink(missing_ok=True)
        return removed

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
        """Add one committed batch to an append-only table: a single atomic file per batch, written
        through the table's link into its current generation."""
        self.ensure_table(name)
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
        return any(self.table_path(name).glob("**/*.parquet"))
