"""The warehouse's `models` table: one row per trained model, written once its GGUF file is complete.
The schema is `warehouse.schemas.MODELS`."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pyarrow as pa

from warehouse.connect import connect, query
from warehouse.schemas import MODELS
from warehouse.store import Warehouse


def model_files_dir(warehouse: Warehouse) -> Path:
    return warehouse.root / "model_files"


def registered(warehouse: Warehouse) -> pl.DataFrame:
    con = connect(warehouse)
    try:
        return query(con, "SELECT * FROM models ORDER BY created_at")
    finally:
        con.close()


def find(warehouse: Warehouse, artifact_key: str, role: str, iteration: int | None = None) -> dict | None:
    """The newest row of this artifact (and role and iteration, when given) whose GGUF file still exists."""
    rows = registered(warehouse).filter(pl.col("artifact_key") == artifact_key, pl.col("role") == role)
    if iteration is not None:
        rows = rows.filter(pl.col("iteration") == iteration)
    for row in reversed(rows.to_dicts()):
        if Path(row["gguf_path"]).is_file():
            return row
    return None


def register(warehouse: Warehouse, row: dict[str, object]) -> dict[str, object]:
    row = {**row, "batch_id": f"{row['name']}-{row['artifact_key'][:16]}", "created_at": datetime.now(UTC)}
    table = pa.Table.from_pylist([row], schema=MODELS)
    with warehouse.exclusive():
        warehouse.append_part(
            "models", table, f"{row['batch_id']}-{row['gguf_sha256'][:12]}-{row['iteration']}"
        )
    return row
