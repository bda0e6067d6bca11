"""Self-augmentation: the backward model writes the `instruction` column for every kept segment."""

from __future__ import annotations

import polars as pl
import xxhash

import sql
from etl.filters.quality import WORD
from inference.engines.base import Engine
from inference.prompts.backtranslate import (
    build_backtranslate_prompt,
    build_chat_backtranslate_prompt,
    clean_instruction,
)
from inference.runner import StageReport, run_batches
from inference.sampling import Sampling, row_seed
from warehouse.connect import connect, query
from warehouse.schemas import AUGMENTATIONS
from warehouse.store import Warehouse


def augmentation_id(segment_id: str, iteration: int, model: str, prompt_version: str) -> str:
    return xxhash.xxh3_128_hexdigest(f"{segment_id}|{iteration}|{model}|{prompt_version}".encode())


def cut_input(texts: pl.Series, max_chars: int) -> pl.DataFrame:
    """`text`, cut at a word boundary before `max_chars` when longer, and `input_truncated`."""
    text = pl.col("text")
    too_long = text.str.len_chars() > max_chars
    return pl.DataFrame({"text": texts}).select(
        text=pl.when(too_long).then(text.str.slice(0, max_chars).str.replace(r"\s+\S*$", "")).otherwise(text),
        input_truncated=too_long,
    )


def augment(
    warehouse: Warehouse,
    engine: Engine,
    *,
    iteration: int = 0,
    prompt_format: str = "few-shot",
    sampling: Sampling | None = None,
    n_examples: int = 3,
    limit: int | None = None,
    sample: int | None = None,
    batch_rows: int = 32,
    show_progress: bool = True,
) -> StageReport:
    """Add an instruction to every kept segment that has none for this iteration, model and prompt.

    `prompt_format` "few-shot" prompts a base model with seed examples; "chat" prompts a backward model
    fine-tuned by humpback_train as it was trained. `limit` caps the rows computed in this run; `sample`
    keeps only the first N kept segments in id order, a fixed subset that a rerun finds done.
    """
    sampling = sampling or Sampling()
    chat = prompt_format == "chat"
    with warehouse.exclusive():
        con = connect(warehouse)
        seeds = query(con, "SELECT * FROM seeds")
        prompt = build_chat_backtranslate_prompt() if chat else build_backtranslate_prompt(seeds, n_examples)
        params = {"iteration": iteration, "model": engine.model_id, "prompt_version": prompt.version}
        segments = query(con, sql.load("inference/segments_to_augment"), params)
        con.close()
        if sample is not None:
            segments = segments.head(sample)  # the query orders by segment_id
        pending = segments.filter(~pl.col("done")).drop("done")
        report = StageReport(
            stage="augment",
            model=engine.model_id,
            prompt_version=prompt.version,
            already_done=segments.height - pending.height,
        )
        if limit is not None:
            pending = pending.head(limit)
        params_json = sampling.to_json()

        def compute(engine: Engine, chunk: pl.DataFrame) -> pl.DataFrame:
            inputs = cut_input(chunk["text"], sampling.max_input_chars)
            ids = chunk["segment_id"].to_list()
            seeds_ = [row_seed(sampling.seed, f"{sid}|{iteration}") for sid in ids]
            outputs = engine.complete(
                prompt.prefix, [prompt.suffix(t) for t in inputs["text"]], sampling, seeds_, prompt.stop
            )
            cleaned = [
                clean_instruction(o.text, o.stopped, few_shot_instructions, first_line=not chat)
                for o in outputs
            ]
            return pl.DataFrame(
                {
                    "augmentation_id": [
                        augmentation_id(s, iteration, engine.model_id, prompt.version) for s in ids
                    ],
                    "segment_id": ids,
                    "iteration": iteration,
                    "backward_model": prompt.kind,
                    "instruction": [c[0] for c in cleaned],
                    "status": [c[1] for c in cleaned],
                    "raw_output": [o.text for o in outputs],
                    "sampling_seed": seeds_,
                    "model": engine.model_id,
                    "model_source": engine.model_source,
                    "prompt_version": prompt.version,
                    "params": params_json,
                    "prompt_tokens": [o.prompt_tokens for o in outputs],
                    "uncached_tokens": [o.uncached_tokens for o in outputs],
                    "completion_tokens": [o.completion_tokens for o in outputs],
                    "input_truncated": inputs["input_truncated"],
                }
            ).with_columns(
                instruction_words=pl.col("instruction").cast(pl.String).str.count_matches(WORD).cast(pl.Int32)
            )

        few_shot_instructions = frozenset(
            seeds.filter(pl.col("seed_id").is_in(list(prompt.seed_ids)))["instruction"].str.strip_chars()
        )
        return run_batches(
            warehouse=warehouse,
            table="augmentations",
            schema=AUGMENTATIONS,
            key="segment_id",
            scope=f"{iteration}|{engine.model_id}|{prompt.version}",
            pending=pending,
            engine=engine,
            compute=compute,
            batch_rows=batch_rows,
            report=report,
            show_progress=show_progress,
        )
