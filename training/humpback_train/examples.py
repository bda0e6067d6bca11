"""Training examples from the warehouse: rows read through the export's views, rendered as prompts and
completions in the format the model stages prompt with, split into training and held-out rows."""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl
import xxhash

import sql
from inference.prompts.chat import render_prompt
from warehouse.connect import query
from warehouse.store import Warehouse
from warehouse.views import connect_views

ROLES = ("backward", "forward")


@dataclass(frozen=True)
class TrainingData:
    rows: pl.DataFrame  # origin, row_id, prompt, completion, heldout
    source: str  # the query the rows came from, for the models table
    data_hash: str  # XXH3-128 over every rendered row in order

    @property
    def train(self) -> pl.DataFrame:
        return self.rows.filter(~pl.col("heldout"))

    @property
    def heldout(self) -> pl.DataFrame:
        return self.rows.filter(pl.col("heldout"))

    def count(self, origin: str, train_only: bool = False) -> int:
        rows = self.train if train_only else self.rows
        return rows.filter(pl.col("origin") == origin).height


def read_rows(
    warehouse: Warehouse, role: str, after_iteration: int = -1, k: float = 4, mode: str = "direct"
) -> tuple[pl.DataFrame, str]:
    """(rows, source): the backward model's swapped seed pairs, or a forward model's seed pairs plus A_k of
    iteration `after_iteration` (-1: seeds only, the data of M0)."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; choose one of {', '.join(ROLES)}")
    con = connect_views(warehouse)
    try:
        if role == "backward":
            source = "backward_rows: seeds, output -> instruction"
            frame = query(con, sql.load("training/backward_rows"))
        else:
            params = {"iteration": after_iteration, "k": k, "mode": mode}
            source = "seeds" if after_iteration < 0 else f"training_pairs({after_iteration}, {k:g}, '{mode}')"
            frame = query(con, sql.load("training/forward_rows"), params)
    finally:
        con.close()
    if frame.filter(pl.col("origin") == "seed").is_empty():
        raise ValueError("the warehouse has no seed pairs: load them first (humpback seed load)")
    return frame, source


def heldout_mask(row_ids: pl.Series, fraction: float, max_rows: int) -> pl.Series:
    """Rows kept out of training: the lowest hashes of their ids, a fixed choice independent of order."""
    n = min(max_rows, round(len(row_ids) * fraction))
    if n == 0 or len(row_ids) < 8:
        return pl.Series("heldout", [False] * len(row_ids))
    ranks = row_ids.map_elements(lambda r: xxhash.xxh3_64_intdigest(r.encode()), return_dtype=pl.UInt64).rank(
        "ordinal"
    )
    return (ranks <= n).alias("heldout")


def build_training_data(
    warehouse: Warehouse,
    role: str,
    *,
    after_iteration: int = -1,
    k: float = 4,
    mode: str = "direct",
    heldout_fraction: float = 0.05,
    heldout_max: int = 64,
) -> TrainingData:
    frame, source = read_rows(warehouse, role, after_iteration, k, mode)
    prompts = [render_prompt(i, s) for i, s in zip(frame["instruction"], frame["system"], strict=True)]
    rows = frame.select(
        "origin",
        "row_id",
        prompt=pl.Series(prompts, dtype=pl.String),
        completion=pl.col("output").str.strip_chars(),
        heldout=heldout_mask(frame["row_id"], heldout_fraction, heldout_max),
    )
    digest = xxhash.xxh3_128()
    for prompt, completion in zip(rows["prompt"], rows["completion"], strict=True):
        digest.update(f"{prompt}\x00{completion}\x01".encode())
    return TrainingData(rows=rows, source=source, data_hash=digest.hexdigest())
