"""The judge: for every pair of answers, in both orders, the probability that the first is better.

The verdict is read from p(" A") and p(" B") after the prompt (`inference/prompts/judge.py`), with the
judge's own preference for the first position, measured on content-free pairs, divided out. Each
ordered pair is judged once per judge model and prompt version, and reused by every evaluation that
shows the same two answers.
"""

from __future__ import annotations

import json

import polars as pl
import xxhash

from inference.augment import cut_input
from inference.engines.base import Engine
from inference.prompts.judge import CANDIDATES, CONTENT_FREE, JudgePrompt, calibrate
from inference.runner import StageReport
from inference.stage import ModelStage, candidates, holding, run_stage
from warehouse.schemas import EVAL_JUDGMENTS
from warehouse.store import Warehouse

MAX_ANSWER_CHARS = 3000  # each answer is cut (at a word boundary) so that both fit the judge's context


def judgment_id(first_answer_id: str, second_answer_id: str, model: str, prompt_version: str) -> str:
    key = f"{first_answer_id}|{second_answer_id}|{model}|{prompt_version}"
    return xxhash.xxh3_128_hexdigest(key.encode())


def position_prior(engine: Engine, prompt: JudgePrompt) -> float:
    """The judge's mean p(" A") over pairs that carry no content; 0.5 for a judge without position bias."""
    suffixes = [prompt.suffix(text, text, text) for text in CONTENT_FREE]
    probs = [c.probs[0] for c in engine.choose(prompt.prefix, suffixes, CANDIDATES) if c.probs is not None]
    return sum(probs) / len(probs) if probs else 0.5


def verdict_expr(p: pl.Expr) -> pl.Expr:
    return (
        pl.when(p > 0.5)
        .then(pl.lit("first"))
        .when(p < 0.5)
        .then(pl.lit("second"))
        .when(p.is_not_null())
        .then(pl.lit("even"))
    )


def judge_pairs(
    warehouse: Warehouse,
    engine: Engine,
    prompt: JudgePrompt,
    *,
    prompt_set: str,
    answers_a: str,
    answers_b: str,
    batch_rows: int = 8,
    show_progress: bool = True,
) -> StageReport:
    """Judge, in both orders, every pair of the two answer sets over the prompt set not judged yet."""
    with holding(warehouse):  # from the pending query to the last batch
        pairs = candidates(
            warehouse,
            "eval/pairs_to_judge",
            {
                "prompt_set": prompt_set,
                "answers_a": answers_a,
                "answers_b": answers_b,
                "judge": engine.model_id,
                "prompt_version": prompt.version,
            },
        )
        if pairs.filter(~pl.col("done")).is_empty():  # the prior costs a few decodes: not for nothing
            return StageReport("judge", engine.model_id, prompt.version, already_done=pairs.height)
        prior = position_prior(engine, prompt)
        report = StageReport(stage="judge", extra={"position_prior": prior})
        params = json.dumps(
            {
                "candidates": list(CANDIDATES),
                "max_answer_chars": MAX_ANSWER_CHARS,
                "content_free": list(CONTENT_FREE),
            },
            sort_keys=True,
        )
        pairs = pairs.with_columns(
            judgment_id=pl.struct("first_answer_id", "second_answer_id").map_elements(
                lambda r: judgment_id(
                    r["first_answer_id"], r["second_answer_id"], engine.model_id, prompt.version
                ),
                return_dtype=pl.String,
            )
        )

        def compute(engine: Engine, chunk: pl.DataFrame) -> pl.DataFrame:
            first = cut_input(chunk["first_text"].fill_null(""), MAX_ANSWER_CHARS)
            second = cut_input(chunk["second_text"].fill_null(""), MAX_ANSWER_CHARS)
            texts = zip(chunk["instruction"], first["text"], second["text"], strict=True)
            choices = engine.choose(prompt.prefix, [prompt.suffix(q, a, b) for q, a, b in texts], CANDIDATES)
            p_first = [c.probs[0] if c.probs is not None else None for c in choices]
            calibrated = [None if p is None else calibrate(p, prior) for p in p_first]
            frame = pl.DataFrame(
                {
                    "judgment_id": chunk["judgment_id"],
                    "prompt_id": chunk["prompt_id"],
                    "first_answer_id": chunk["first_answer_id"],
                    "second_answer_id": chunk["second_answer_id"],
                    "p_first": p_first,
                    "position_prior": prior,
                    "p_first_calibrated": calibrated,
                    "prompt_tokens": [c.prompt_tokens for c in choices],
                    "uncached_tokens": [c.uncached_tokens for c in choices],
                    "completion_tokens": 0,
                    "input_truncated": first["input_truncated"] | second["input_truncated"],
                },
                schema_overrides={"p_first": pl.Float64, "p_first_calibrated": pl.Float64},
            )
            scored = pl.col("p_first_calibrated").is_not_null()
            return frame.with_columns(
                verdict=verdict_expr(pl.col("p_first_calibrated")),
                status=pl.when(scored).then(pl.lit("ok")).otherwise(pl.lit("unscored")),
            )

        stage = ModelStage(
            name="judge",
            table="eval_judgments",
            schema=EVAL_JUDGMENTS,
            key="judgment_id",
            scope=f"{engine.model_id}|{prompt.version}",
            prompt_version=prompt.version,
            params=params,
            compute=compute,
        )
        return run_stage(
            warehouse,
            engine,
            stage,
            rows=pairs,
            batch_rows=batch_rows,
            show_progress=show_progress,
            report=report,
        )
