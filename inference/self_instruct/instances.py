"""Instances for the generated tasks: `samples` sampled instances per task, output-first for
classification tasks and input-first for the others, and the instances that do not make a training
pair dropped with a reason:

- empty_output: nothing to learn;
- same_input_output: the output repeats the input;
- duplicate: the same input and output as an earlier sample of the task (the first is kept);
- conflicting_outputs: one input with different outputs, so at most one can be right (all are dropped).
"""

from __future__ import annotations

import polars as pl
import xxhash

from inference.engines.base import Engine
from inference.prompts.self_instruct import (
    INSTANCE_STOP,
    INSTANCES_VERSION,
    instance_prefix,
    instance_suffix,
    parse_instance,
)
from inference.runner import StageReport
from inference.sampling import Sampling, row_seed
from inference.stage import ModelStage, run_stage
from warehouse.schemas import TASK_INSTANCES
from warehouse.store import Warehouse


def default_instance_sampling(seed: int = 0) -> Sampling:
    """Varied instances: Self-Instruct sampled them at temperature 0 but asked for several in one go;
    here each sample is its own completion, so they need the temperature to differ."""
    return Sampling(temperature=0.7, top_p=0.9, seed=seed, max_new_tokens=200)


def instance_id(task_id: str, sample: int, model: str, prompt_version: str) -> str:
    return xxhash.xxh3_128_hexdigest(f"{task_id}|{sample}|{model}|{prompt_version}".encode())


def instance_status(frame: pl.DataFrame) -> pl.Series:
    """Each instance's final status, from its parse status and the other samples of its task."""
    parsed_ok = pl.col("status") == "ok"
    first = frame.with_columns(
        status=pl.when(~parsed_ok)
        .then(pl.col("status"))
        .when(pl.col("output").str.strip_chars() == "")
        .then(pl.lit("empty_output"))
        .when(pl.col("input").str.strip_chars() == pl.col("output").str.strip_chars())
        .then(pl.lit("same_input_output"))
        .otherwise(pl.lit("ok"))
    ).with_columns(
        status=pl.when(parsed_ok & (pl.int_range(pl.len()).over("task_id", "input", "output", parsed_ok) > 0))
        .then(pl.lit("duplicate"))
        .otherwise(pl.col("status"))
    )
    kept = pl.col("status") == "ok"
    outputs = pl.col("output").filter(kept).n_unique().over("task_id", "input")
    return first.select(
        pl.when(kept & (outputs > 1)).then(pl.lit("conflicting_outputs")).otherwise(pl.col("status"))
    ).to_series()


def generate_instances(
    warehouse: Warehouse,
    engine: Engine,
    *,
    samples: int = 2,
    sampling: Sampling | None = None,
    batch_rows: int = 16,
    show_progress: bool = True,
) -> StageReport:
    """Write instances for every generated task this model classified and has not instantiated."""
    sampling = sampling or default_instance_sampling()

    def compute(engine: Engine, chunk: pl.DataFrame) -> pl.DataFrame:
        rows = chunk.join(
            pl.DataFrame({"sample": list(range(samples))}, schema={"sample": pl.Int32}), how="cross"
        )
        rows = rows.with_columns(
            sampling_seed=pl.concat_str(
                "task_id", pl.col("sample").cast(pl.String), separator="|"
            ).map_elements(lambda key: row_seed(sampling.seed, key), return_dtype=pl.Int64)
        )
        parts = []
        for output_first, group in rows.group_by("is_classification", maintain_order=True):
            first = bool(output_first[0])
            outputs = engine.complete(
                instance_prefix(first),
                [instance_suffix(t, first) for t in group["instruction"]],
                sampling,
                group["sampling_seed"].to_list(),
                INSTANCE_STOP,
            )
            parsed = [parse_instance(o.text, first, o.stopped) for o in outputs]
            parts.append(
                group.with_columns(
                    output_first=pl.lit(first),
                    input=pl.Series([p.input for p in parsed], dtype=pl.String),
                    output=pl.Series([p.output for p in parsed], dtype=pl.String),
                    status=pl.Series([p.status for p in parsed], dtype=pl.String),
                    raw_output=pl.Series([o.text for o in outputs], dtype=pl.String),
                    prompt_tokens=pl.Series([o.prompt_tokens for o in outputs], dtype=pl.Int32),
                    uncached_tokens=pl.Series([o.uncached_tokens for o in outputs], dtype=pl.Int32),
                    completion_tokens=pl.Series([o.completion_tokens for o in outputs], dtype=pl.Int32),
                )
            )
        frame = pl.concat(parts).sort("task_id", "sample")
        return frame.with_columns(
            status=instance_status(frame),
            instance_id=pl.struct("task_id", "sample").map_elements(
                lambda r: instance_id(r["task_id"], r["sample"], engine.model_id, INSTANCES_VERSION),
                return_dtype=pl.String,
            ),
            input_truncated=pl.lit(False),
        )

    stage = ModelStage(
        name="self-instruct: instances",
        table="task_instances",
        schema=TASK_INSTANCES,
        key="task_id",
        scope=f"{engine.model_id}|{INSTANCES_VERSION}|{samples}",
        prompt_version=INSTANCES_VERSION,
        params=sampling.to_json(),
        compute=compute,
        pending="self_instruct/tasks_to_instantiate",
        pending_params={"model": engine.model_id, "prompt_version": INSTANCES_VERSION},
    )
    return run_stage(warehouse, engine, stage, batch_rows=batch_rows, show_progress=show_progress)
