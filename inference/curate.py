"""Self-curation: a model rates every (instruction, segment) pair and writes the `score` column."""

from __future__ import annotations

import json
from dataclasses import dataclass

import polars as pl
import pyarrow as pa
import xxhash

import sql
from inference.augment import cut_input
from inference.engines.base import Engine
from inference.prompts.rating import SCORES, build_rating_prompt, parse_reasoned
from inference.runner import StageReport, run_batches
from inference.sampling import Sampling
from warehouse.connect import connect, query
from warehouse.schemas import SCORES as SCORES_SCHEMA
from warehouse.schemas import TASK_SCORES
from warehouse.store import Warehouse

CANDIDATES = tuple(f" {k}" for k in SCORES)  # what follows "Score:" in the direct prompt
REASONED_STOP = ("\n\n", "\nRequest:")


@dataclass(frozen=True)
class RatedPairs:
    """Which (instruction, answer) pairs a curation run rates, and where its ratings go."""

    query: str  # sql/inference/*.sql: key, parent, instruction, text and done of every pair
    table: str
    schema: pa.Schema
    key: str  # the rated pair's id column
    parent: str  # the id of what the answer came from


PAIRS = {
    # instructions backtranslated from web segments (augment)
    "backtranslated": RatedPairs(
        "inference/pairs_to_score", "scores", SCORES_SCHEMA, "augmentation_id", "segment_id"
    ),
    # Self-Instruct tasks with their generated instances (self-instruct)
    "self-instruct": RatedPairs(
        "inference/instances_to_score", "task_scores", TASK_SCORES, "instance_id", "task_id"
    ),
}


def score_id(augmentation_id: str, iteration: int, model: str, prompt_version: str, mode: str) -> str:
    key = f"{augmentation_id}|{iteration}|{model}|{prompt_version}|{mode}"
    return xxhash.xxh3_128_hexdigest(key.encode())


def default_sampling(mode: str) -> Sampling:
    """Greedy: a rating should not depend on a dice roll. Reasoned mode needs room for its reason."""
    return Sampling(temperature=0.0, top_p=1.0, max_new_tokens=0 if mode == "direct" else 160)


def _direct(engine: Engine, prefix: str, suffixes: list[str]) -> dict[str, pl.Series | list]:
    choices = engine.choose(prefix, suffixes, CANDIDATES)
    probs = pl.col("probs")
    scored = probs.is_not_null()  # a server's top-n list can miss every digit: null probs, no score
    frame = pl.DataFrame({"probs": [c.probs for c in choices]}, schema={"probs": pl.List(pl.Float64)}).select(
        probs,
        score=(probs.list.arg_max() + SCORES[0]).cast(pl.Int8),
        expected_score=probs.list.eval(pl.element() * (pl.int_range(pl.len()) + SCORES[0])).list.sum(),
        parse_status=pl.when(scored).then(pl.lit("ok")).otherwise(pl.lit("no_match")),
        status=pl.when(scored).then(pl.lit("ok")).otherwise(pl.lit("unscored")),
    )
    n = len(choices)
    return {name: frame[name] for name in frame.columns} | {
        "reasoning": [None] * n,
        "raw_output": [None] * n,
        "prompt_tokens": [c.prompt_tokens for c in choices],
        "uncached_tokens": [c.uncached_tokens for c in choices],
        "completion_tokens": [0] * n,
    }


def _reasoned(engine: Engine, prefix: str, suffixes: list[str], sampling: Sampling) -> dict[str, list]:
    outputs = engine.complete(prefix, suffixes, sampling, [sampling.seed] * len(suffixes), REASONED_STOP)
    parsed = [parse_reasoned(o.text, o.stopped) for o in outputs]
    return {
        "score": [p.score for p in parsed],
        "expected_score": [float(p.score) if p.score is not None else None for p in parsed],
        "probs": [None] * len(parsed),
        "parse_status": [p.parse_status for p in parsed],
        "status": ["ok" if p.score is not None else "unscored" for p in parsed],
        "reasoning": [p.reasoning for p in parsed],
        "raw_output": [o.text for o in outputs],
        "prompt_tokens": [o.prompt_tokens for o in outputs],
        "uncached_tokens": [o.uncached_tokens for o in outputs],
        "completion_tokens": [o.completion_tokens for o in outputs],
    }


def curate(
    warehouse: Warehouse,
    engine: Engine,
    *,
    mode: str = "direct",
    iteration: int = 0,
    augment_iteration: int | None = None,
    augment_model: str | None = None,
    prompt_format: str = "few-shot",
    system: str = "seed",
    sampling: Sampling | None = None,
    limit: int | None = None,
    batch_rows: int = 32,
    show_progress: bool = True,
    pairs: str = "backtranslated",
) -> StageReport:
    """Score, as iteration `iteration`, every clean (instruction, segment) pair of `augment_iteration`
    (default: the same; written by `augment_model` when given) not yet scored by this model and mode.

    `prompt_format` "chat" prompts a model fine-tuned by humpback_train in its own format, under the
    system prompt `system`. `pairs` "self-instruct" rates the generated tasks' instances instead (the
    instruction, then its input after a blank line, as the request), into `task_scores`.
    """
    if pairs not in PAIRS:
        raise ValueError(f"unknown pairs {pairs!r}; choose one of {', '.join(PAIRS)}")
    source = PAIRS[pairs]
    prompt = build_rating_prompt(mode, chat=prompt_format == "chat", system=system)
    sampling = sampling or default_sampling(mode)
    with warehouse.exclusive():
        con = connect(warehouse)
        params = {
            "iteration": iteration,
            "augment_iteration": iteration if augment_iteration is None else augment_iteration,
            "augment_model": augment_model,
            "model": engine.model_id,
            "prompt_version": prompt.version,
            "mode": mode,
        }
        if pairs != "backtranslated":  # instances have no augmentation iteration or model
            params = {k: v for k, v in params.items() if not k.startswith("augment_")}
        rated = query(con, sql.load(source.query), params)
        con.close()
        pending = rated.filter(~pl.col("done")).drop("done")
        report = StageReport(
            stage=f"curate ({mode})" if pairs == "backtranslated" else f"curate {pairs} ({mode})",
            model=engine.model_id,
            prompt_version=prompt.version,
            already_done=rated.height - pending.height,
        )
        if limit is not None:
            pending = pending.head(limit)
        params_json = json.dumps(
            {"mode": mode, "candidates": list(CANDIDATES) if mode == "direct" else None}
            | json.loads(sampling.to_json()),
            sort_keys=True,
        )

        def compute(engine: Engine, chunk: pl.DataFrame) -> pl.DataFrame:
            inputs = cut_input(chunk["text"], sampling.max_input_chars)
            texts = zip(chunk["instruction"], inputs["text"], strict=True)
            suffixes = [prompt.suffix(instruction, text) for instruction, text in texts]
            if mode == "direct":
                columns = _direct(engine, prompt.prefix, suffixes)
            else:
                columns = _reasoned(engine, prompt.prefix, suffixes, sampling)
            ids = chunk[source.key].to_list()
            return pl.DataFrame(
                {
                    "score_id": [score_id(a, iteration, engine.model_id, prompt.version, mode) for a in ids],
                    source.key: ids,
                    source.parent: chunk[source.parent],
                    "iteration": iteration,
                    "mode": mode,
                    **columns,
                    "model": engine.model_id,
                    "model_source": engine.model_source,
                    "prompt_version": prompt.version,
                    "params": params_json,
                    "input_truncated": inputs["input_truncated"],
                },
                schema_overrides={
                    "probs": pl.List(pl.Float64),
                    "score": pl.Int8,
                    "expected_score": pl.Float64,
                },
            )

        run_batches(
            warehouse=warehouse,
            table=source.table,
            schema=source.schema,
            key=source.key,
            scope=f"{iteration}|{engine.model_id}|{prompt.version}|{mode}",
            pending=pending,
            engine=engine,
            compute=compute,
            batch_rows=batch_rows,
            report=report,
            show_progress=show_progress,
        )
        if pairs == "backtranslated":
            report.extra["curated"] = curated_sizes(warehouse, iteration)
        return report


def curated_sizes(warehouse: Warehouse, iteration: int = 0) -> list[dict[str, object]]:
    con = connect(warehouse)
    rows = query(con, sql.load("inference/curated_sizes"), {"iteration": iteration}).to_dicts()
    con.close()
    return rows
