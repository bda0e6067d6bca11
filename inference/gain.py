"""The likelihood gain of an answer under a request: how much likelier the request makes the answer's
first tokens, log p(answer | request) - log p(answer), per token (pointwise mutual information).

It is the signal that tells a mismatched pair in self-curation (`curation/signals.py` reads it in the
same pass as the rubric), and the one self-augmentation ranks candidate instructions by: of several
requests written for one segment, the one under which the segment is likeliest is the one it answers
(a noisy-channel choice). Both read it through the rating prompt's row format, whose fixed prefix
stays in the engine's cache; only the answer's first `tokens` tokens are read.
"""

from __future__ import annotations

from collections.abc import Sequence

from inference.engines.base import Engine, Piece
from inference.prompts.rating import RatingPrompt

TOKENS = 16  # on the curation benchmark's tune split, 16 tokens told mismatched answers best
UNCONDITIONAL_HEAD = "Answer:\n"  # the answer alone, fenced as in the rating row


def given_pieces(prompt: RatingPrompt, instruction: str, answer: str, tokens: int) -> list[Piece]:
    head, text, _, _ = prompt.parts(instruction, answer)
    return [Piece(head), Piece(text, scored=tokens, read=tokens)]


def alone_pieces(prompt: RatingPrompt, answer: str, tokens: int, read: int | None = None) -> list[Piece]:
    """The answer under an `Answer:` line only, fenced as in the rating row; `read` -1 reads it all."""
    head, text, _, _ = prompt.parts("", answer)
    opening = head[head.rindex("\n", 0, len(head) - 1) + 1 :]  # the fence's opening line
    return [
        Piece(UNCONDITIONAL_HEAD + opening),
        Piece(text, scored=tokens, read=tokens if read is None else read),
    ]


def logp_given(
    engine: Engine,
    prompt: RatingPrompt,
    instructions: Sequence[str],
    answers: Sequence[str],
    tokens: int = TOKENS,
) -> list[tuple[float, int]]:
    """(log p(answer's first tokens | instruction), tokens scored) of every pair."""
    rows = [given_pieces(prompt, i, a, tokens) for i, a in zip(instructions, answers, strict=True)]
    return [(r.pieces[1].logprob, r.pieces[1].scored) for r in engine.likelihood(prompt.prefix, rows)]


def logp_alone(
    engine: Engine, prompt: RatingPrompt, answers: Sequence[str], tokens: int = TOKENS
) -> list[tuple[float, int]]:
    """(log p(answer's first tokens), tokens scored) of every answer."""
    rows = [alone_pieces(prompt, a, tokens) for a in answers]
    return [(r.pieces[1].logprob, r.pieces[1].scored) for r in engine.likelihood(prompt.prefix, rows)]


def answer_gain(
    engine: Engine,
    prompt: RatingPrompt,
    instructions: Sequence[str],
    answers: Sequence[str],
    tokens: int = TOKENS,
    alone: Sequence[tuple[float, int]] | None = None,
) -> list[float | None]:
    """The gain per token of every (instruction, answer) pair; None for an answer without tokens.
    `alone`: the answers' `logp_alone`, when the caller has it (it is the same for every instruction)."""
    given = logp_given(engine, prompt, instructions, answers, tokens)
    alone = alone if alone is not None else logp_alone(engine, prompt, answers, tokens)
    return [(g - a) / n if n else None for (g, n), (a, _) in zip(given, alone, strict=True)]
