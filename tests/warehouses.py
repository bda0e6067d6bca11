"""Small warehouses the model-stage tests start from, and reading them back."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pyarrow as pa

from etl.seeds.loaders import load_embedded_seeds
from warehouse.connect import connect, query
from warehouse.schemas import AUGMENTATIONS, SEGMENTS
from warehouse.store import Warehouse


def sql(warehouse: Warehouse | Path, text: str) -> pl.DataFrame:
    con = connect(warehouse)
    try:
        return query(con, text)
    finally:
        con.close()


def pairs_warehouse(root: Path, pairs: list[tuple[str, str]]) -> Warehouse:
    """A warehouse holding given (instruction, text) pairs as kept segments with clean augmentations.

    The pairs are real text; only the instruction column is given instead of generated, so the scoring
    tests do not depend on what the backward model writes.
    """
    segments, augmentations = [], []
    for i, (instruction, text) in enumerate(pairs):
        sid = f"seg{i:04d}"
        segments.append(
            {
                "segment_id": sid,
                "doc_id": f"doc{i}",
                "text": text,
                "is_duplicate": False,
                "keep": True,
                "reasons": [],
            }
        )
        augmentations.append(
            {
                "augmentation_id": f"aug{i:04d}",
                "segment_id": sid,
                "iteration": 0,
                "backward_model": "given",
                "instruction": instruction,
                "status": "ok",
                "sampling_seed": 0,
                "model": "given",
                "model_source": "test",
                "prompt_version": "given",
                "params": "{}",
                "input_truncated": False,
                "batch_id": "given",
                "created_at": 0,
            }
        )
    warehouse = Warehouse(root)
    warehouse.append_part("segments", pa.Table.from_pylist(segments, schema=SEGMENTS), "given")
    warehouse.append_part("augmentations", pa.Table.from_pylist(augmentations, schema=AUGMENTATIONS), "given")
    return warehouse


def seed_pairs(n: int) -> list[tuple[str, str]]:
    """The first `n` (instruction, output) pairs of the embedded seed set."""
    return [(r["instruction"], r["output"]) for r in load_embedded_seeds().rows[:n]]
