"""Self-curation: a model rates every (instruction, segment) pair and writes the `score` column.

Three modes. `calibrated` (the default) reads the rubric's score digits and the likelihood signals in
one pass over the pair and one short pass over the answer alone, and turns them into a score with a
calibration fitted on the seed pairs (inference/curation/). `direct` and `reasoned` are the paper's:
the rubric's score digit, or a reason and then `Score: N`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import polars as pl
import pyarrow as pa
import xxhash

import sql
from inference.curation import calibration as calibrations
from inference.curation.rater import DEFAULT_MODE, make_rater
from inference.curation.signals import LIKELIHOOD_TOKENS
from inference.engines.base import Engine
from inference.runner import StageReport
from inference.sampling import Sampling
from inference.stage import ModelStage, holding, run_stage
from warehouse.connect import connect, query
from warehouse.schemas import CALIBRATIONS, TASK_SCORES
from warehouse.schemas import SCORES as SCORES_SCHEMA
from warehouse.store import Warehouse


@dataclass(frozen=True)
class RatedPairs:
    """Which (instruction, answer) pairs a curation run rates, and where its ratings go."""

    query: str  # sql/inference/*.sql: key, parent, instruction, text and done of every pair
    table: str
    schema: pa.Schema
    key: str  # the rated pair's id column
    parent: str  # the id of what the answer came from
    gold: str  # sql/inference/*.sql: the gold pairs (seed_id, instruction, output) a calibration fits on


PAIRS = {
    # instructions backtranslated from web segments (augment)
    "backtranslated": RatedPairs(
        "inference/pairs_to_score",
        "scores",
        SCORES_SCHEMA,
        "augmentation_id",
        "segment_id",
        "inference/calibration_seeds",
    ),
    # Self-Instruct tasks with their generated instances (self-instruct)
    "self-instruct": RatedPairs(
        "inference/instances_to_score",
        "task_scores",
        TASK_SCORES,
        "instance_id",
        "task_id",
        "inference/calibration_seed_tasks",
    ),
}


def score_id(augmentation_id: str, iteration: int, model: str, prompt_version: str, mode: str) -> str:
    key = f"{augmentation_id}|{iteration}|{model}|{prompt_version}|{mode}"
    return xxhash.xxh3_128_hexdigest(key.encode())


def warehouse_calibrations(warehouse: Warehouse) -> Callable[[str], calibrations.Calibration | None]:
    """Look a calibration up by its key in the warehouse's `calibrations` table."""

    def known(key: str) -> calibrations.Calibration | None:
        con = connect(warehouse)
        try:
            rows = query(con, "SELECT record FROM calibrations WHERE key = $key LIMIT 1", {"key": key})
        finally:
            con.close()
        return calibrations.Calibration.from_json(rows["record"][0]) if rows.height else None

    return known


def record_calibration(warehouse: Warehouse, calibration: calibrations.Calibration) -> None:
    """Add the calibration to the warehouse's `calibrations` table, once."""
    if warehouse_calibrations(warehouse)(calibration.key) is not None:
        return
    row = {
        "calibration": calibration.version,
        "key": calibration.key,
        "recipe": calibration.recipe,
        "model": calibration.model,
        "prompt_version": calibration.prompt_version,
        "likelihood_tokens": calibration.likelihood_tokens,
        "seed_set": calibration.seed_set,
        "seed_pairs": calibration.seed_pairs,
        "negatives": json.dumps(calibration.negatives, sort_keys=True),
        "figures": json.dumps(calibration.figures, sort_keys=True),
        "record": calibration.to_json(),
        "fit_seconds": calibration.fit_seconds,
        "created_at": datetime.now(UTC),
    }
    table = pa.Table.from_pylist([row], schema=CALIBRATIONS)
    warehouse.append_part("calibrations", table, calibration.key)


def curate(
    warehouse: Warehouse,
    engine: Engine,
    *,
    mode: str = DEFAULT_MODE,
    iteration: int = 0,
    augment_iteration: int | None = None,
    augment_model: str | None = None,
    prompt_format: str = "few-shot",
    system: str = "seed",
    sampling: Sampling | None = None,
    likelihood_tokens: int = LIKELIHOOD_TOKENS,
    limit: int | None = None,
    batch_rows: int = 32,
    show_progress: bool = True,
    pairs: str = "backtranslated",
) -> StageReport:
    """Score, as iteration `iteration`, every clean (instruction, segment) pair of `augment_iteration`
    (default: the same; written by `augment_model` when given) not yet scored by this model and mode.

    `prompt_format` "chat" prompts a model fine-tuned by humpback_train in its own format, under the
    system prompt `system`. `pairs` "self-instruct" rates the generated tasks' instances instead (the
    instruction, then its input after a blank line, as the request), into `task_scores`. The calibrated
    mode fits its calibration on the warehouse's seeds the first time (see inference/curation/).
    """
    if pairs not in PAIRS:
        raise ValueError(f"unknown pairs {pairs!r}; choose one of {', '.join(PAIRS)}")
    source = PAIRS[pairs]
    with holding(warehouse):
        con = connect(warehouse)
        seeds = query(con, sql.load(source.gold))  # Self-Instruct instances calibrate on the seed tasks
        con.close()
        rater, fitted = make_rater(
            engine,
            mode,
            seeds=seeds,
            chat=prompt_format == "chat",
            system=system,
            sampling=sampling,
            likelihood_tokens=likelihood_tokens,
            known=warehouse_calibrations(warehouse),
            show_progress=show_progress,
        )
        if rater.calibration is not None:
            record_calibration(warehouse, rater.calibration)
        params = {
            "iteration": iteration,
            "augment_iteration": iteration if augment_iteration is None else augment_iteration,
            "augment_model": augment_model,
            "model": engine.model_id,
            "prompt_version": rater.version,
            "mode": mode,
        }
        if pairs != "backtranslated":  # instances have no augmentation iteration or model
            params = {k: v for k, v in params.items() if not k.startswith("augment_")}
        report = StageReport(
            stage=f"curate ({mode})" if pairs == "backtranslated" else f"curate {pairs} ({mode})"
        )
        if rater.calibration is not None:
            report.extra["calibration"] = {"calibration": rater.calibration, "fitted": fitted}
            if prompt_format == "chat":
                report.extra["warning"] = (
                    "this model was fine-tuned by humpback_train, likely on these seed pairs: its "
                    "calibration "
                    "is fitted on its own training pairs and may ask too much of new ones (--mode direct)"
                )

        def compute(engine: Engine, chunk: pl.DataFrame) -> pl.DataFrame:
            ids = chunk[source.key].to_list()
            return rater.frame(engine, chunk["instruction"].to_list(), chunk["text"]).with_columns(
                score_id=pl.Series(
                    [score_id(a, iteration, engine.model_id, rater.version, mode) for a in ids]
                ),
                **{source.key: chunk[source.key], source.parent: chunk[source.parent]},
                iteration=pl.lit(iteration, pl.Int32),
            )

        stage = ModelStage(
            name=report.stage,
            table=source.table,
            schema=source.schema,
            key=source.key,
            scope=f"{iteration}|{engine.model_id}|{rater.version}|{mode}",
            prompt_version=rater.version,
            params=rater.params_json,
            compute=compute,
            pending=source.query,
            pending_params=params,
        )
        run_stage(
            warehouse,
            engine,
            stage,
            limit=limit,
            batch_rows=batch_rows,
            show_progress=show_progress,
            report=report,
        )
        if pairs == "backtranslated":
            report.extra["curated"] = curated_sizes(warehouse, iteration)
        return report


def curated_sizes(warehouse: Warehouse, iteration: int = 0) -> list[dict[str, object]]:
    con = connect(warehouse)
    rows = query(con, sql.load("inference/curated_sizes"), {"iteration": iteration}).to_dicts()
    con.close()
    return rows
