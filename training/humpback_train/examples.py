"""Training examples from the warehouse: rows read through the export's views, rendered as prompts and
completions in the format the model stages prompt with, split into training and held-out rows."""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl
import xxhash

import sql
from inference.prompts.chat import prompt_expr
from warehouse.connect import query
from warehouse.exports import contaminated
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
        # evaluation prompts are never training data; a backward row's prompt is in its output
        frame = frame.filter(~contaminated(frame["output" if role == "backward" else "instruction"], con))
    finally:
        con.close()
    if frame.filter(pl.col("origin") == "seed").is_empty():
        raise ValueError("the warehouse has no seed pairs: load them first (humpback seed load)")
    return frame, source


def heldout_expr(n_rows: int, fraction: float, max_rows: int) -> pl.Expr:
    """Rows kept out of training: the lowest ids. Row ids are content hashes (seed_id, segment_id), so this
    is a fixed random choice that does not depend on the rows' order."""
    n = min(max_rows, round(n_rows * fraction)) if n_rows >= 8 else 0
    return pl.col("row_id").rank("ordinal") <= n


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
    return training_data(frame, source, heldout_fraction=heldout_fraction, heldout_max=heldout_max)


def training_data(
    frame: pl.DataFrame, source: str, *, heldout_fraction: float = 0.05, heldout_max: int = 64
) -> TrainingData:
    """Rows (origin, row_id, instruction, output, system) rendered as the model stages prompt, with their
    held-out split and the hash that keys the trained model."""
    rows = frame.select(
        "origin",
        "row_id",
        prompt=prompt_expr(pl.col("instruction"), pl.col("system")),
        completion=pl.col("output").str.strip_chars(),
        heldout=heldout_expr(frame.height, heldout_fraction, heldout_max),
    )
    rendered = rows.select(
        pl.concat_str([pl.col("prompt"), pl.lit("\x00"), pl.col("completion"), pl.lit("\x01")]).str.join("")
    ).item()
    return TrainingData(rows=rows, source=source, data_hash=xxhash.xxh3_128_hexdigest(rendered.encode()))
