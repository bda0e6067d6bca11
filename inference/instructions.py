"""Writing one instruction per segment with the backward model: draw, clean, retry, choose.

A small model's single draw fails often (it copies a few-shot example, writes nothing, or never stops)
and, when it succeeds, may ask something its segment does not answer. So each row may get:

- `candidates` draws from one reading of its prompt (`Engine.sample`), and, of those that clean to an
  instruction, the one with the highest choice score: the likelihood gain (`inference/gain.py`), a
  noisy-channel choice, p(segment | instruction) / p(segment), plus `coverage_weight` times the share
  of the instruction's content words the segment mentions (`inference/coverage.py`);
- up to `attempts` rounds: a row whose draws all failed, or whose best choice score is below the
  drawing's `floor`, draws again with fresh seeds. A row still below the floor after the last round
  gets no instruction (status `not_answered`): a missing pair is better than a wrong one.

Every draw keeps the paper's sampling (T = 0.7, top-p 0.9) from its own seed, derived from the run's
seed, the row's key and the draw's place; the first draw of the first round has the seed a single draw
always had. Every attempt's seed and status is returned with the chosen one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl

from inference.coverage import coverage
from inference.engines.base import Completion, Engine
from inference.gain import TOKENS, answer_gain, logp_alone
from inference.prompts.backtranslate import BacktranslatePrompt, clean_instruction
from inference.prompts.rating import RatingPrompt
from inference.sampling import Sampling, row_seed

OK = "ok"
NOT_ANSWERED = "not_answered"  # every round's best draw scored below the drawing's floor
COLUMNS = {
    "instruction": pl.String,
    "status": pl.String,
    "raw_output": pl.String,
    "sampling_seed": pl.Int64,  # the chosen draw's seed (not_answered: the best draw's; none clean: the last)
    "attempt_seeds": pl.List(pl.Int64),  # every draw's seed, in order
    "attempt_statuses": pl.List(pl.String),  # and what cleaning made of it
    "attempt_instructions": pl.List(pl.String),  # each draw's cleaned instruction (null: failed)
    "gain": pl.Float64,  # log p(segment | instruction) - log p(segment), per token of its first tokens
    "coverage": pl.Float64,  # the share of the instruction's content words its segment mentions
    "prompt_tokens": pl.Int32,
    "uncached_tokens": pl.Int32,
    "completion_tokens": pl.Int32,
}


@dataclass(frozen=True)
class Drawing:
    """How many draws a row gets and how one is chosen: `candidates` per round, at most `attempts`
    rounds (a round after the first only for rows whose draws all failed or scored below `floor`).
    `rank` chooses among good candidates by choice score, the likelihood gain plus `coverage_weight`
    times the coverage, and records the chosen one's gain and coverage. `floor`: the choice score a
    row's best draw needs to be kept (None: any). `questions_only`: a statement or a command fails
    (`not_a_question`), the form a small backward model's segments answer; a large model's may pass."""

    candidates: int = 1
    attempts: int = 1
    rank: bool = True
    questions_only: bool = True
    coverage_weight: float = 0.0
    floor: float | None = None

    def __post_init__(self) -> None:
        if self.candidates < 1 or self.attempts < 1:
            raise ValueError("candidates and attempts are at least 1")
        if self.coverage_weight < 0:
            raise ValueError("coverage_weight is at least 0")
        if (self.floor is not None or self.coverage_weight) and not (self.rank and self.candidates > 1):
            # without ranked draws no gain is read: nothing to weigh, no score to hold to a floor
            raise ValueError("coverage_weight and floor need ranked draws (rank, more than one candidate)")

    @property
    def label(self) -> str:
        """A short name for versions and reports: best-of-4x2 is 4 candidates, up to 2 rounds;
        -cover2 adds twice the coverage to the gain, -floor1.5 keeps no row scoring below 1.5."""
        name = f"best-of-{self.candidates}x{self.attempts}"
        name = name if self.rank or self.candidates == 1 else f"{name}-first"
        if self.coverage_weight:
            name = f"{name}-cover{self.coverage_weight:g}"
        if self.floor is not None:
            name = f"{name}-floor{self.floor:g}"
        return name if self.questions_only else f"{name}-any-form"

    def choice(self, gain: float | None, coverage: float | None) -> float | None:
        """The score draws compete on; None without a gain (nothing ranks them)."""
        if gain is None:
            return None
        return gain + self.coverage_weight * (coverage or 0.0)


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
    ranked = gain_prompt is not None and drawing.rank
    # per row, per draw: (seed, completion, instruction, status, gain, coverage)
    draws: list[list[tuple[int, Completion, str | None, str, float | None, float | None]]] = [
        [] for _ in range(n)
    ]
    alone: dict[int, tuple[float, int]] = {}  # log p(text) per row, read once and kept across rounds
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
        fresh: list[tuple[int, int]] = []  # (row, draw) of this round's good draws
        for i, row_seeds, row_samples in zip(todo, seeds, samples, strict=True):
            for seed, done in zip(row_seeds, row_samples, strict=True):
                instruction, status = clean_instruction(
                    done.text, done.stopped, examples, first_line, drawing.questions_only
                )
                if status == OK:
                    fresh.append((i, len(draws[i])))
                draws[i].append((seed, done, instruction, status, None, None))
        _score(judge, gain_prompt if ranked else None, texts, draws, fresh, alone)
        todo = [i for i in todo if not _settled(draws[i], drawing)]

    out: dict[str, list] = {name: [] for name in COLUMNS}
    for row_draws in draws:
        pick, best = _pick(row_draws, drawing)
        seed, done, instruction, status, gain, cover = row_draws[pick]
        if _below_floor(best, drawing):
            instruction, status = None, NOT_ANSWERED
        out["instruction"].append(instruction)
        out["status"].append(status)
        out["raw_output"].append(done.text)
        out["sampling_seed"].append(seed)
        out["attempt_seeds"].append([d[0] for d in row_draws])
        out["attempt_statuses"].append([d[3] for d in row_draws])
        out["attempt_instructions"].append([d[2] for d in row_draws])
        out["gain"].append(gain)
        out["coverage"].append(cover)
        out["prompt_tokens"].append(max(d[1].prompt_tokens for d in row_draws))
        out["uncached_tokens"].append(sum(d[1].uncached_tokens for d in row_draws))
        out["completion_tokens"].append(sum(d[1].completion_tokens for d in row_draws))
    return pl.DataFrame(out, schema=COLUMNS)


def _score(
    judge: Engine,
    gain_prompt: RatingPrompt | None,
    texts: Sequence[str],
    draws: list[list[tuple[int, Completion, str | None, str, float | None, float | None]]],
    fresh: list[tuple[int, int]],
    alone: dict[int, tuple[float, int]],
) -> None:
    """Fill in the gain (when `gain_prompt` is given) and the coverage of this round's good draws;
    `alone` caches each row's log p(text), which every round's gain needs."""
    if not fresh:
        return
    instructions = [draws[i][j][2] or "" for i, j in fresh]
    covered = coverage(instructions, [texts[i] for i, _ in fresh])
    gains: list[float | None] = [None] * len(fresh)
    if gain_prompt is not None:
        rows = sorted({i for i, _ in fresh} - alone.keys())
        if rows:
            alone.update(zip(rows, logp_alone(judge, gain_prompt, [texts[i] for i in rows]), strict=True))
        gains = list(
            answer_gain(
                judge,
                gain_prompt,
                instructions,
                [texts[i] for i, _ in fresh],
                TOKENS,
                alone=[alone[i] for i, _ in fresh],
            )
        )
    for (i, j), gain, cover in zip(fresh, gains, covered, strict=True):
        draws[i][j] = (*draws[i][j][:4], gain, cover)


def _pick(row_draws: list[tuple], drawing: Drawing) -> tuple[int, float | None]:
    """The chosen draw of a row and its choice score: the good draw with the highest score, the first
    one on ties or without scores; the last draw when none is good."""
    good = [j for j, d in enumerate(row_draws) if d[3] == OK]
    if not good:
        return len(row_draws) - 1, None
    scores = {j: drawing.choice(row_draws[j][4], row_draws[j][5]) for j in good}
    pick = max(good, key=lambda j: (_or_low(scores[j]), -j))
    return pick, scores[pick]


def _below_floor(best: float | None, drawing: Drawing) -> bool:
    return drawing.floor is not None and best is not None and best < drawing.floor


def _settled(row_draws: list[tuple], drawing: Drawing) -> bool:
    """Whether a row needs no further round: a good draw, scoring at least the floor when there is one."""
    if not any(d[3] == OK for d in row_draws):
        return False
    return not _below_floor(_pick(row_draws, drawing)[1], drawing)


def _or_low(value: float | None) -> float:
    return value if value is not None else float("-inf")
