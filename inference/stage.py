"""The model-stage template: a stage states what it writes, its pending query and how to compute one
batch; `run_stage` does the rest, the same way for every stage.

It holds the warehouse (unless the caller already does), reads the pending rows, reports those an
earlier run finished, adds the provenance columns (model, model file source, prompt version, parameters)
to every row, and hands the batches to `run_batches` (`inference/runner.py`), which commits each one
and makes a killed run resume without recomputing or duplicating a row.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import polars as pl
import pyarrow as pa

import sql
from inference.engines.base import Engine
from inference.runner import StageReport, run_batches
from warehouse.connect import connect, query
from warehouse.store import Warehouse

Compute = Callable[[Engine, pl.DataFrame], pl.DataFrame]


@dataclass(frozen=True)
class ModelStage:
    """One model stage, as data."""

    name: str  # the report's and the progress bar's
    table: str  # the table the rows go to
    schema: pa.Schema  # its schema (warehouse/schemas.py)
    key: str  # the pending rows' key: batches are cut in its order and named by their keys
    scope: str  # what else makes a row besides its key (model, prompt version, mode...): part of batch ids
    prompt_version: str
    params: str  # provenance: the sampling and prompt parameters, as JSON
    compute: Compute  # one batch of pending rows -> the stage's own columns (and `status`)
    pending: str | None = None  # a sql/ query of candidate rows with a boolean `done` column
    pending_params: dict[str, Any] = field(default_factory=dict)


@contextlib.contextmanager
def holding(warehouse: Warehouse) -> Iterator[None]:
    """Hold the warehouse for this run, unless this process already does (a stage inside a command)."""
    if warehouse.held:
        yield
        return
    with warehouse.exclusive():
        yield


def candidates(warehouse: Warehouse, name: str, params: dict[str, Any]) -> pl.DataFrame:
    """The rows of the sql/ query `name`, with its `done` column."""
    con = connect(warehouse)
    try:
        return query(con, sql.load(name), params)
    finally:
        con.close()


def with_provenance(compute: Compute, stage: ModelStage) -> Compute:
    """`compute`, its rows stamped with who made them: the engine's model (where the batch ran) and the
    stage's prompt version and parameters."""

    def stamped(engine: Engine, chunk: pl.DataFrame) -> pl.DataFrame:
        return compute(engine, chunk).with_columns(
            model=pl.lit(engine.model_id, pl.String),
            model_source=pl.lit(engine.model_source, pl.String),
            prompt_version=pl.lit(stage.prompt_version, pl.String),
            params=pl.lit(stage.params, pl.String),
        )

    return stamped


def run_stage(
    warehouse: Warehouse,
    engine: Engine,
    stage: ModelStage,
    *,
    rows: pl.DataFrame | None = None,
    limit: int | None = None,
    batch_rows: int = 32,
    show_progress: bool = True,
    report: StageReport | None = None,
) -> StageReport:
    """Compute every pending row of `stage` (its `pending` query's rows not `done`, or `rows` when the
    caller selected them, with a `done` column) and commit them batch by batch. `limit` caps the rows
    computed in this run."""
    with holding(warehouse):
        if rows is None:
            if stage.pending is None:
                raise ValueError(f"stage {stage.name!r} has no pending query and no rows were given")
            rows = candidates(warehouse, stage.pending, stage.pending_params)
        pending = rows.filter(~pl.col("done")).drop("done")
        report = report or StageReport(stage=stage.name)
        report.model = engine.model_id
        report.prompt_version = stage.prompt_version
        report.already_done = rows.height - pending.height
        if limit is not None:
            pending = pending.head(limit)
        return run_batches(
            warehouse=warehouse,
            table=stage.table,
            schema=stage.schema,
            key=stage.key,
            scope=stage.scope,
            pending=pending,
            engine=engine,
            compute=with_provenance(stage.compute, stage),
            batch_rows=batch_rows,
            report=report,
            show_progress=show_progress,
        )
