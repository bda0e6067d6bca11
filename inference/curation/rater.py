"""How each scoring mode rates a batch of (instruction, answer) pairs, for any stage that rates them
(`curate` into the warehouse, `score` into a file).

`calibrated` reads the rubric's score digits and the likelihood signals (`signals.py`) and applies a
calibration fitted on the seed pairs (`calibration.py`); `direct` reads the five score digits'
probabilities; `reasoned` decodes a reason and a `Score: N` line.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

import polars as pl

from inference.augment import cut_input
from inference.curation import calibration as calibrations
from inference.curation.signals import (
    CANDIDATES,
    LIKELIHOOD_TOKENS,
    MODEL_COLUMNS,
    compute_signals,
    model_signals,
)
from inference.engines.base import Engine
from inference.gain import UNCONDITIONAL_HEAD
from inference.prompts.common import prompt_version
from inference.prompts.rating import SCORES, RatingPrompt, build_rating_prompt, parse_reasoned
from inference.sampling import Sampling

MODES = ("calibrated", "direct", "reasoned")
DEFAULT_MODE = "calibrated"
REASONED_STOP = ("\n\n", "\nRequest:")
# What the calibrated mode adds to a rating; null in the other modes.
SIGNAL_TYPES = {"p_good": pl.Float64, "calibration": pl.String} | {
    name: kind
    for name, kind in MODEL_COLUMNS.items()
    if name not in ("probs", "prompt_tokens", "uncached_tokens")
}
# Columns whose type a batch of Python values cannot show (all null, or ints for floats).
RATING_TYPES = {
    "probs": pl.List(pl.Float64),
    "score": pl.Int8,
    "expected_score": pl.Float64,
    "reasoning": pl.String,
    "raw_output": pl.String,
} | SIGNAL_TYPES


def default_sampling(mode: str) -> Sampling:
    """Greedy: a rating should not depend on a dice roll. Reasoned mode needs room for its reason."""
    return Sampling(temperature=0.0, top_p=1.0, max_new_tokens=160 if mode == "reasoned" else 0)


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


@dataclass(frozen=True)
class Rater:
    """How one mode rates a batch of pairs: its prompt, the version its rows carry, and the calibration
    (calibrated mode only)."""

    mode: str
    prompt: RatingPrompt
    version: str
    sampling: Sampling
    calibration: calibrations.Calibration | None = None
    likelihood_tokens: int = LIKELIHOOD_TOKENS

    def rate(
        self, engine: Engine, instructions: list[str], answers: list[str]
    ) -> dict[str, pl.Series | list]:
        """The rating columns of `_RATING` (scores and task_scores) and the token counts, one per pair."""
        if self.mode == "direct":
            columns = _direct(
                engine,
                self.prompt.prefix,
                [self.prompt.suffix(i, a) for i, a in zip(instructions, answers, strict=True)],
            )
        elif self.mode == "reasoned":
            suffixes = [self.prompt.suffix(i, a) for i, a in zip(instructions, answers, strict=True)]
            columns = _reasoned(engine, self.prompt.prefix, suffixes, self.sampling)
        else:
            columns = self._calibrated(engine, instructions, answers)
        n = len(instructions)
        return {name: [None] * n for name in SIGNAL_TYPES} | columns

    def frame(self, engine: Engine, instructions: list[str], answers: pl.Series) -> pl.DataFrame:
        """The rating and provenance columns of a batch of pairs, one row each, in order; answers
        longer than the sampling's `max_input_chars` are cut at a word, and the row says so."""
        inputs = cut_input(answers, self.sampling.max_input_chars)
        return pl.DataFrame(
            {
                "mode": self.mode,
                **self.rate(engine, instructions, inputs["text"].to_list()),
                "model": engine.model_id,
                "model_source": engine.model_source,
                "prompt_version": self.version,
                "params": self.params_json,
                "input_truncated": inputs["input_truncated"],
            },
            schema_overrides=RATING_TYPES,
        )

    def _calibrated(
        self, engine: Engine, instructions: list[str], answers: list[str]
    ) -> dict[str, pl.Series | list]:
        assert self.calibration is not None
        signals = model_signals(engine, self.prompt, instructions, answers, self.likelihood_tokens)
        features = calibrations.feature_frame(
            signals.with_columns(instruction=pl.Series(instructions), answer=pl.Series(answers))
        )
        p_good = self.calibration.p_good(features)
        expected = calibrations.expected_score(p_good)
        n = len(instructions)
        return {name: signals[name] for name in signals.columns if name in SIGNAL_TYPES} | {
            "probs": signals["probs"],
            "p_good": p_good.tolist(),
            "calibration": [self.calibration.version] * n,
            "expected_score": expected.tolist(),
            "score": calibrations.score_of(expected).tolist(),
            "parse_status": ["ok"] * n,
            "status": ["ok"] * n,
            "reasoning": [None] * n,
            "raw_output": [None] * n,
            "prompt_tokens": signals["prompt_tokens"],
            "uncached_tokens": signals["uncached_tokens"],
            "completion_tokens": [0] * n,
        }

    @property
    def params_json(self) -> str:
        extra = {"mode": self.mode, "candidates": list(CANDIDATES) if self.mode != "reasoned" else None}
        if self.mode == "calibrated":
            extra |= {"likelihood_tokens": self.likelihood_tokens}
        return json.dumps(extra | json.loads(self.sampling.to_json()), sort_keys=True)


def rating_prompt(mode: str, *, chat: bool = False, system: str = "seed") -> RatingPrompt:
    """The rubric prompt a mode reads: the calibrated mode reads the direct one. An unknown mode or
    system prompt is a ValueError."""
    if mode not in MODES:
        raise ValueError(f"unknown scoring mode {mode!r}; choose one of {', '.join(MODES)}")
    return build_rating_prompt("direct" if mode == "calibrated" else mode, chat=chat, system=system)


def calibrated_prompt_version(prompt: RatingPrompt, likelihood_tokens: int) -> str:
    """The calibrated mode's prompt: the rating prompt, its unconditional row and its token budget."""
    return prompt_version("rate-calibrated-v1", f"{prompt.version}|{UNCONDITIONAL_HEAD}|{likelihood_tokens}")


def make_rater(
    engine: Engine,
    mode: str,
    *,
    seeds: pl.DataFrame,
    chat: bool = False,
    system: str = "seed",
    sampling: Sampling | None = None,
    likelihood_tokens: int = LIKELIHOOD_TOKENS,
    max_seed_pairs: int = calibrations.MAX_SEED_PAIRS,
    known: Callable[[str], calibrations.Calibration | None] = calibrations.cached,
    show_progress: bool = True,
) -> tuple[Rater, bool]:
    """The rater of one mode for this engine; in calibrated mode, with the calibration for these seeds
    (found, or fitted now on the engine). Returns it and whether a calibration was fitted."""
    prompt = rating_prompt(mode, chat=chat, system=system)
    sampling = sampling or default_sampling(mode)
    if mode != "calibrated":
        return Rater(mode, prompt, prompt.version, sampling), False
    version = calibrated_prompt_version(prompt, likelihood_tokens)
    calibration, fitted = calibrations.obtain(
        seeds,
        model=engine.model_id,
        prompt_version=version,
        likelihood_tokens=likelihood_tokens,
        signals_of=lambda pairs: compute_signals(
            engine, prompt, pairs, likelihood_tokens, sampling.max_input_chars, show_progress=show_progress
        ),
        known=known,
        max_seed_pairs=max_seed_pairs,
    )
    rater = Rater(mode, prompt, f"{version}+{calibration.version}", sampling, calibration, likelihood_tokens)
    return rater, fitted
