"""Self-augmentation: the backward model writes the `instruction` column for every kept segment."""

from __future__ import annotations

import json
from dataclasses import asdict, replace

import polars as pl
import xxhash

from common.text import WORD
from inference.engines.base import Engine
from inference.instructions import Drawing, write_instructions
from inference.prompts.backtranslate import (
    build_backtranslate_prompt,
    build_chat_backtranslate_prompt,
)
from inference.prompts.common import prompt_version
from inference.prompts.rating import RatingPrompt, build_rating_prompt
from inference.runner import StageReport
from inference.sampling import Sampling
from inference.stage import ModelStage, candidates, holding, run_stage
from warehouse.connect import connect, query
from warehouse.schemas import AUGMENTATIONS
from warehouse.store import Warehouse

# Per prompt format. The base model prompted few-shot: the fewest draws that reached fit 0.85 on the tune
# split of benchmarks/augmentation_quality.py (60 pairs, up to 2 rounds): best of 3: 0.80, 4: 0.88, 5:
# 0.83, 6: 0.86. The backward model fine-tuned on the seeds: fit is 0.92 from one draw, but read one by
# one (benchmarks/augmentation_answered.py, tune half, 265 segments) the first self-contained question
# was answered by its segment for 68 segments, the best by gain of 2 for 76, of 3 for 84, of 4 for 90,
# and some draw of 4 for 131: more draws give the choice more to find. Replayed on those draws, adding
# the coverage to the gain (weight 1; 2 and 3 did no better) chose an answered draw for 96, and a floor
# of 1.0 on that score would leave 47 rows without a pair, 2 of them answered (36% -> 43% of pairs
# good); such a row draws a second round first. Drawn and read anew: 32.8% -> 35.9% good on the tune
# half, 27.4% -> 30.3% on the report half, good pairs per 100 kept segments about the same.
DRAWINGS = {
    "few-shot": Drawing(candidates=4, attempts=2),
    "chat": Drawing(candidates=4, attempts=2, coverage_weight=1.0, floor=1.0),
}


def choose_drawing(
    prompt_format: str,
    *,
    served: bool = False,
    candidates: int | None = None,
    attempts: int | None = None,
    questions_only: bool | None = None,
    floor: float | None = None,
    no_floor: bool = False,
) -> Drawing:
    """The format's default drawing, with `candidates`, `attempts`, `questions_only` or `floor` when
    given (`no_floor`: none). Through a server, ranking draws reads prompt log-probabilities, which
    llama_cpp.server computes very slowly and upstream llama-server does not return: one draw per round
    unless asked. The floor holds the drawing model's own gain to a level: another model may need
    another one."""
    if floor is not None and no_floor:
        raise ValueError("give a floor or no floor, not both")
    if prompt_format not in DRAWINGS:
        raise ValueError(f"unknown prompt format {prompt_format!r}; choose {', '.join(DRAWINGS)}")
    default = DRAWINGS[prompt_format]
    n = candidates or (1 if served else default.candidates)
    # one draw: no gain is read, so nothing to weigh by coverage or hold to a floor
    if no_floor:
        floor = None
    elif floor is None:
        floor = default.floor if n > 1 else None
    return replace(
        default,
        candidates=n,
        attempts=attempts or default.attempts,
        questions_only=default.questions_only if questions_only is None else questions_only,
        coverage_weight=default.coverage_weight if n > 1 else 0.0,
        floor=floor,
    )


def drawing_version(version: str, drawing: Drawing, gain_prompt: RatingPrompt | None) -> str:
    """The prompt version of rows drawn with `drawing`: a single draw keeps the prompt's own version;
    more draws, and the rating prompt that ranks them, make another, so rows never mix."""
    if drawing == Drawing():
        return version
    judge = gain_prompt.version if gain_prompt is not None else "unranked"
    return prompt_version(f"{version}+{drawing.label}", judge)


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
    drawing: Drawing | None = None,
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
    `drawing`: draws per row and resampling (`inference/instructions.py`), by default the format's
    (`DRAWINGS`); part of the prompt version.
    """
    sampling = sampling or Sampling()
    drawing = drawing or choose_drawing(prompt_format)
    chat = prompt_format == "chat"
    with holding(warehouse):
        con = connect(warehouse)
        seeds = query(con, "SELECT * FROM seeds")
        con.close()
        prompt = build_chat_backtranslate_prompt() if chat else build_backtranslate_prompt(seeds, n_examples)
        gain_prompt = build_rating_prompt("direct") if drawing.rank and drawing.candidates > 1 else None
        version = drawing_version(prompt.version, drawing, gain_prompt)
        params = {"iteration": iteration, "model": engine.model_id, "prompt_version": version}
        segments = candidates(warehouse, "inference/segments_to_augment", params)
        if sample is not None:
            segments = segments.head(sample)  # the query orders by segment_id
        few_shot_instructions = frozenset(
            seeds.filter(pl.col("seed_id").is_in(list(prompt.seed_ids)))["instruction"].str.strip_chars()
        )

        def compute(engine: Engine, chunk: pl.DataFrame) -> pl.DataFrame:
            inputs = cut_input(chunk["text"], sampling.max_input_chars)
            ids = chunk["segment_id"].to_list()
            written = write_instructions(
                engine,
                prompt,
                inputs["text"].to_list(),
                [f"{sid}|{iteration}" for sid in ids],
                sampling,
                drawing,
                examples=few_shot_instructions,
                gain_prompt=gain_prompt,
            )
            return written.with_columns(
                augmentation_id=pl.Series(
                    [augmentation_id(s, iteration, engine.model_id, version) for s in ids], dtype=pl.String
                ),
                segment_id=pl.Series(ids, dtype=pl.String),
                iteration=pl.lit(iteration, dtype=pl.Int32),
                backward_model=pl.lit(prompt.kind),
                input_truncated=inputs["input_truncated"],
                instruction_words=pl.col("instruction").str.count_matches(WORD).cast(pl.Int32),
            )

        stage = ModelStage(
            name="augment",
            table="augmentations",
            schema=AUGMENTATIONS,
            key="segment_id",
            scope=f"{iteration}|{engine.model_id}|{version}",
            prompt_version=version,
            params=json.dumps(json.loads(sampling.to_json()) | {"drawing": asdict(drawing)}, sort_keys=True),
            compute=compute,
        )
        return run_stage(
            warehouse,
            engine,
            stage,
            rows=segments,
            limit=limit,
            batch_rows=batch_rows,
            show_progress=show_progress,
        )
