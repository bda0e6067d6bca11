"""Classification or not: the model decides for every task that has no decision from it, few-shot,
from p(" Yes") against p(" No") where the answer is due (as the direct scoring mode reads a score)."""

from __future__ import annotations

import json

import polars as pl

from inference.engines.base import Engine
from inference.prompts.self_instruct import (
    CLASSIFICATION_CANDIDATES,
    CLASSIFICATION_PREFIX,
    CLASSIFICATION_VERSION,
    classification_suffix,
)
from inference.runner import StageReport
from inference.stage import ModelStage, run_stage
from warehouse.schemas import TASK_CLASSES
from warehouse.store import Warehouse


def classify_tasks(
    warehouse: Warehouse, engine: Engine, *, batch_rows: int = 32, show_progress: bool = True
) -> StageReport:
    """Decide classification for every pending task."""

    def compute(engine: Engine, chunk: pl.DataFrame) -> pl.DataFrame:
        suffixes = [classification_suffix(t) for t in chunk["instruction"]]
        choices = engine.choose(CLASSIFICATION_PREFIX, suffixes, CLASSIFICATION_CANDIDATES)
        p_yes = pl.Series([c.probs[0] if c.probs else None for c in choices], dtype=pl.Float64)
        return chunk.select("task_id").with_columns(
            p_yes=p_yes,
            is_classification=p_yes > 0.5,
            status=pl.when(p_yes.is_null()).then(pl.lit("unscored")).otherwise(pl.lit("ok")),
            prompt_tokens=pl.Series([c.prompt_tokens for c in choices], dtype=pl.Int32),
            uncached_tokens=pl.Series([c.uncached_tokens for c in choices], dtype=pl.Int32),
            completion_tokens=pl.lit(0, pl.Int32),
            input_truncated=pl.lit(False),
        )

    stage = ModelStage(
        name="self-instruct: classify",
        table="task_classes",
        schema=TASK_CLASSES,
        key="task_id",
        scope=f"{engine.model_id}|{CLASSIFICATION_VERSION}",
        prompt_version=CLASSIFICATION_VERSION,
        params=json.dumps({"candidates": list(CLASSIFICATION_CANDIDATES), "threshold": 0.5}, sort_keys=True),
        compute=compute,
        pending="self_instruct/tasks_to_classify",
        pending_params={"model": engine.model_id, "prompt_version": CLASSIFICATION_VERSION},
    )
    return run_stage(warehouse, engine, stage, batch_rows=batch_rows, show_progress=show_progress)
