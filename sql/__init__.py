"""The project's SQL, one query or view per file, loaded by name (`load("etl/final_segments")`)."""

from __future__ import annotations

from functools import cache
from importlib.resources import files


@cache
def load(name: str) -> str:
    return (files(__package__) / f"{name}.sql").read_text()
