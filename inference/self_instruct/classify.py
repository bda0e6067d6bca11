"""Classification or not: the model decides for every task that has no decision from it, few-shot,
from p(" Yes") against p(" No") where the answer is due (as the direct scoring mode reads a score)."""

from __future__ import annotations

import json

import polars as pl

import sql
from inference.engines.base import Engine
from inference.prompts.self_instruct import (
    CLASSIFICATION_CANDIDATES,
    CLASSIFICATION_PREFIX,
    CLASSIFICATION_VERSION,
    classification_suffix,
)
from inference.runner import StageReport, run_batches
from warehouse.connect import connect, query
from warehouse.schemas import TASK_CLASSES
from warehouse.store import Warehouse


def classify_tasks(
    warehouse: Warehouse, engine: Engine, *, batch_rows: int = 32, show_progress: bool = True
) -> StageReport:
    """Decide classification for every pending task; the caller holds the warehouse."""
    con = connect(warehouse)
    params = {"model": engine.model_id, "prompt_version": CLASSIFICATION_VERSION}
    tasks = query(con, sql.load("self_instruct/tasks_to_classify"), params)
    con.close()
    pending = tasks.filter(~pl.col("done")).drop("done")
    report = StageReport(
        stage="self-instruct: classify",
        model=engine.model_id,
        prompt_version=CLASSIFICATION_VERSION,
        already_done=tasks.height - pending.height,
    )
    params_json = json.dumps(
        {"candidates": list(CLASSIFICATION_CANDIDATES), "threshold": 0.5}, sort_keys=True
    )

    def compute(engine: Engine, chunk: pl.DataFrame) -> pl.DataFrame:
        suffixes = [classification_suffix(t) for t in chunk["instruction"]]
        choices = engine.choose(CLASSIFICATION_PREFIX, suffixes, CLASSIFICATION_CANDIDATES)
        p_yes = pl.Series([c.probs[0] if c.probs else None for c in choices], dtype=pl.Float64)
        return chunk.select("task_id").with_columns(
            p_yes=p_yes,
            is_classification=p_yes > 0.5,
            status=pl.when(p_yes.is_null()).then(pl.lit("unscored")).otherwise(pl.lit("ok")),
            model=pl.lit(engine.model_id),
            model_source=pl.lit(engine.model_source),
            prompt_version=pl.lit(CLASSIFICATION_VERSION),
            params=pl.lit(params_json),
            prompt_tokens=pl.Series([c.prompt_tokens for c in choices], dtype=pl.Int32),
            uncached_tokens=pl.Series([c.uncached_tokens for c in choices], dtype=pl.Int32),
            completion_tokens=pl.lit(0, pl.Int32),
            input_truncated=pl.lit(False),
        )

    return run_batches(
        warehouse=warehouse,
        table="task_classes",
        schema=TASK_CLASSES,
        key="task_id",
        scope=f"{engine.model_id}|{CLASSIFICATION_VERSION}",
        pending=pending,
        engine=engine,
        compute=compute,
        batch_rows=batch_rows,
        report=report,
        show_progress=show_progress,
    )
