"""How inputs become batches: small files packed into groups, groups cut into content-addressed batches.

Both engines plan with these two functions, so they find the same batches and either can resume the
other's run.

* `group_inputs` packs consecutive small files (a folder of saved pages: one page each) into one group,
  so that a thousand one-page files make a few dozen batches instead of a thousand, each with its own
  staged files, commit and finalize read. A group ends after a file whose name hashes to 0 modulo
  `records_per_batch` (a content-defined cut: adding or removing a file changes only its own group, so
  a rerun on a grown folder still finds the other batches committed), or when it reaches
  `pack_bytes` bytes or `pack_files` files. A file of `pack_bytes` or more is a group of its own.
* `plan_batches` cuts a group's records into batches of at most `records_per_batch` records and
  `max_batch_bytes` payload bytes; a batch's id is a hash of its members' ids.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

import xxhash

from etl.records import Failure, RawRecord, content_id
from etl.settings import ReadSettings

Item = RawRecord | Failure
InputFile = tuple[str, Path]  # (reader kind, path)


def group_inputs(files: list[InputFile], settings: ReadSettings) -> list[list[InputFile]]:
    """The files, in order, packed into groups that each feed one stream of batches."""
    groups: list[list[InputFile]] = []
    group: list[InputFile] = []
    group_bytes = 0
    modulus = max(1, settings.records_per_batch)
    for kind, path in files:
        size = path.stat().st_size
        if size >= settings.pack_bytes:  # a large file is read on its own
            if group:
                groups.append(group)
                group, group_bytes = [], 0
            groups.append([(kind, path)])
            continue
        group.append((kind, path))
        group_bytes += size
        cut = xxhash.xxh3_64_intdigest(path.name.encode("utf-8", "surrogatepass")) % modulus == 0
        if cut or group_bytes >= settings.pack_bytes or len(group) >= settings.pack_files:
            groups.append(group)
            group, group_bytes = [], 0
    if group:
        groups.append(group)
    return groups


def item_key(item: Item) -> str:
    return item.reject_id if isinstance(item, Failure) else item.doc_id + item.source


def _item_bytes(item: Item) -> int:
    return len(item.payload) if isinstance(item, RawRecord) else 0


def plan_batches(items: Iterable[Item], settings: ReadSettings) -> Iterator[tuple[str, list[Item]]]:
    """Group items into batches whose id is content-addressed by their members."""
    batch: list[Item] = []
    batch_bytes = 0
    for item in items:
        batch.append(item)
        batch_bytes += _item_bytes(item)
        if len(batch) >= settings.records_per_batch or batch_bytes >= settings.max_batch_bytes:
            yield content_id(*map(item_key, batch)), batch
            batch, batch_bytes = [], 0
    if batch:
        yield content_id(*map(item_key, batch)), batch
