"""The `seeds` table: add pairs from files (or the embedded set), keeping each pair once."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq

from etl.seeds.loaders import SeedLoad, load_embedded_seeds, load_seed_file
from warehouse.connect import connect, query
from warehouse.schemas import SEEDS
from warehouse.store import Warehouse


@dataclass
class SeedReport:
    read: dict[str, int] = field(default_factory=dict)  # pairs read per source
    skipped: Counter[str] = field(default_factory=Counter)  # lines that gave no pair, by reason
    added: int = 0
    already_present: int = 0
    total: int = 0


def add_seeds(warehouse: Warehouse, paths: list[Path] | None = None) -> SeedReport:
    """Load seed files (none: the embedded set) into the warehouse's `seeds` table."""
    loads: dict[str, SeedLoad] = (
        {str(p): load_seed_file(p) for p in paths} if paths else {"embedded": load_embedded_seeds()}
    )
    report = SeedReport()
    frames = []
    for name, load in loads.items():
        report.read[name] = len(load.rows)
        report.skipped.update(load.skipped)
        frames.append(load.frame())
    new = pl.concat(frames).unique("seed_id", keep="first", maintain_order=True)
    with warehouse.exclusive():
        con = connect(warehouse)
        existing = query(con, "SELECT * FROM seeds")
        con.close()
        fresh = new.join(existing.select("seed_id"), on="seed_id", how="anti")
        report.already_present = new.height - fresh.height
        report.added = fresh.height
        combined = pl.concat([existing, fresh]).sort("seed_id")
        report.total = combined.height
        if fresh.height:
            warehouse.replace_table(
                "seeds",
                lambda folder: pq.write_table(combined.to_arrow().cast(SEEDS), folder / "seeds.parquet"),
            )
    return report
