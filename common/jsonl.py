"""The one JSONL reader: every file of one JSON object per line (gzipped when the name ends in .gz).

One bad-line policy for every caller: each non-blank line comes out with a status, `ok`, `invalid_json`
(not JSON, or not UTF-8) or `not_an_object`, and the caller counts the statuses (a loader's skipped
counts, the ETL's rejects) or, where a file must be whole, calls `objects`, which stops at the first bad
line with `file:line` in the error. Blank lines are passed over and keep their numbers.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from dataclasses import dataclass
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

OK = "ok"
INVALID_JSON = "invalid_json"
NOT_AN_OBJECT = "not_an_object"


@dataclass(frozen=True)
class Line:
    number: int  # from 1, counting blank lines
    record: dict[str, Any] | None  # the object; None unless status is ok
    status: str  # ok | invalid_json | not_an_object
    error: str  # why the line is bad; "" when ok
    position: int  # bytes of the file (compressed, if gzipped) read so far: for progress bars


class JsonlError(ValueError):
    """A bad line in a file that must be whole; the message starts with `file:line:`."""


def read_lines(path: Path | Traversable) -> Iterator[Line]:
    """Every non-blank line of the file, parsed, with its status (see the module's docstring)."""
    with path.open("rb") as raw:
        handle = gzip.GzipFile(fileobj=raw) if path.name.lower().endswith(".gz") else raw
        for number, text in enumerate(handle, start=1):
            if not text.strip():
                continue
            position = raw.tell()
            try:
                record = json.loads(text)
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                yield Line(number, None, INVALID_JSON, f"not JSON: {exc}", position)
                continue
            if not isinstance(record, dict):
                yield Line(number, None, NOT_AN_OBJECT, "not a JSON object", position)
                continue
            yield Line(number, record, OK, "", position)


def objects(path: Path | Traversable) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) of every non-blank line; raises JsonlError at the first bad one."""
    for line in read_lines(path):
        if line.status != OK:
            raise JsonlError(f"{path}:{line.number}: {line.error}")
        yield line.number, line.record
