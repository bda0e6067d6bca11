"""Writing one instruction per segment with the backward model: draw, clean, retry, choose.

A small model's single draw fails often (it copies a few-shot example, writes nothing, or never stops)
and, when it succeeds, may ask something its segment does not answer. So each row may get:

- `candidates` draws from one reading of its prompt (`Engine.sample`), and, of those that clean to an
  instruction, the one under which the segment is likeliest: the highest likelihood gain
  (`inference/gain.py`), a noisy-channel choice, p(segment | instruction) / p(segment);
- up to `attempts` rounds: a row whose draws all failed draws again with fresh seeds.

Every draw keeps the paper's sampling (T = 0.7, top-p 0.9) from its own seed, derived from the run's
seed, the row's key and the draw's place; the first draw of the first round has the seed a single draw
always had. Every attempt's seed and status is returned with the chosen one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl

from inference.engines.base import Completion, Engine
from inference.gain import TOKENS, answer_gain, logp_alone
from inference.prompts.backtranslate import BacktranslatePrompt, clean_instruction
from inference.prompts.rating import RatingPrompt
from inference.sampling import Sampling, row_seed

OK = "ok"
COLUMNS = {
    "instruction": pl.String,
    "status": pl.String,
    "raw_output": pl.String,
    "sampling_seed": pl.Int64,  # the chosen draw's seed (the last failed one's when none was kept)
    "attempt_seeds": pl.List(pl.Int64),  # every draw's seed, in order
    "attempt_statuses": pl.List(pl.String),  # and what cleaning made of it
    "attempt_instructions": pl.List(pl.String),  # each draw's cleaned instruction (null: failed)
    "gain": pl.Float64,  # log p(segment | instruction) - log p(segment), per token of its first tokens
    "prompt_tokens": pl.Int32,
    "uncached_tokens": pl.Int32,
    "completion_tokens": pl.Int32,
}


@dataclass(frozen=True)
class Drawing:
    """How many draws a row gets: `candidates` per round, at most `attempts` rounds (a round after the
    first only for rows whose draws all failed). `rank` chooses among good candidates by likelihood
    gain, and records the gain of the chosen one. `questions_only`: a statement or a command fails
    (`not_a_question`), the form a small backward model's segments answer; a large model's may pass."""

    candidates: int = 1
    attempts: int = 1
    rank: bool = True
    questions_only: bool = True

    def __post_init__(self) -> None:
        if self.candidates < 1 or self.attempts < 1:
            raise ValueError("candidates and attempts are at least 1")

    @property
    def label(self) -> str:
        """A short name for versions and reports: best-of-4x2 is 4 candidates, up to 2 rounds."""
        name = f"best-of-{self.candidates}x{self.attempts}"
        name = name if self.rank or self.candidates == 1 else f"{name}-first"
        return name if self.questions_only else f"{name}-any-form"


def draw_seed(run_seed: int, key: str, attempt: int, candidate: int) -> int:
    """The seed of one draw. The first draw of a row keeps the seed one draw per row always had."""
    if attempt == 0 and candidate == 0:
        return row_seed(run_seed, key)
    return row_seed(run_seed, f"{key}|draw{attempt}.{candidate}")


def write_instructions(
    engine: Engine,
    prompt: BacktranslatePrompt,
    texts: Sequence[str],
    keys: Sequence[str],
    sampling: Sampling,
    drawing: Drawing,
    *,
    examples: frozenset[str] = frozenset(),
    gain_prompt: RatingPrompt | None = None,
    judge: Engine | None = None,
) -> pl.DataFrame:
    """One row per text with the columns of `COLUMNS`. `keys` make the seeds (a segment id and the
    iteration); `examples` are the prompt's example instructions, which a draw must not copy;
    `gain_prompt` is the rating prompt the gain is read through (none: no ranking, no gain), by `judge`
    (default: the engine that draws; a fine-tuned backward model is no judge of forward likelihoods)."""
    judge = judge or engine
    n = len(texts)
    first_line = not prompt.chat
    draws: list[list[tuple[int, Completion, str | None, str]]] = [[] for _ in range(n)]
    todo = list(range(n))
    for attempt in range(drawing.attempts):
        if not todo:
            break
        seeds = [
            [draw_seed(sampling.seed, keys[i], attempt, c) for c in range(drawing.candidates)] for i in todo
        ]
        samples = engine.sample(
            prompt.prefix, [prompt.suffix(texts[i]) for i in todo], sampling, seeds, prompt.stop
        )
        for i, row_seeds, row_samples in zip(todo, seeds, samples, strict=True):
            for seed, done in zip(row_seeds, row_samples, strict=True):
                instruction, status = clean_instruction(
                    done.text, done.stopped, examples, first_line, drawing.questions_only
                )
                draws[i].append((seed, done, instruction, status))
        todo = [i for i in todo if not any(status == OK for *_, status in draws[i])]

    gains: list[list[float | None]] = [[None] * len(d) for d in draws]
    if gain_prompt is not None and drawing.rank:
        wanted = [(i, j) for i in range(n) for j, d in enumerate(draws[i]) if d[3] == OK]
        rows = sorted({i for i, _ in wanted})
        if wanted:
            alone = dict(zip(rows, logp_alone(judge, gain_prompt, [texts[i] for i in rows]), strict=True))
            found = answer_gain(
                judge,
                gain_prompt,
                [draws[i][j][2] for i, j in wanted],  # type: ignore[misc]
                [texts[i] for i, _ in wanted],
                TOKENS,
                alone=[alone[i] for i, _ in wanted],
            )
            for (i, j), value in zip(wanted, found, strict=True):
                gains[i][j] = value

    out: dict[str, list] = {name: [] for name in COLUMNS}
    for row_draws, row_gains in zip(draws, gains, strict=True):
        good = [j for j, d in enumerate(row_draws) if d[3] == OK]
        if good:  # the likeliest segment under its instruction; the first good draw on ties or no gain
            pick = max(good, key=lambda j: (row_gains[j] if row_gains[j] is not None else float("-inf"), -j))
        else:
            pick = len(row_draws) - 1
        seed, done, instruction, status = row_draws[pick]
        out["instruction"].append(instruction)
        out["status"].append(status)
        out["raw_output"].append(done.text)
        out["sampling_seed"].append(seed)
        out["attempt_seeds"].append([d[0] for d in row_draws])
        out["attempt_statuses"].append([d[3] for d in row_draws])
        out["attempt_instructions"].append([d[2] for d in row_draws])
        out["gain"].append(row_gains[pick])
        out["prompt_tokens"].append(max(d[1].prompt_tokens for d in row_draws))
        out["uncached_tokens"].append(sum(d[1].uncached_tokens for d in row_draws))
        out["completion_tokens"].append(sum(d[1].completion_tokens for d in row_draws))
    return pl.DataFrame(out, schema=COLUMNS)
