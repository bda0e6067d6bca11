"""What a model stage asks of a model, whether it runs in-process or behind a server.

Every request is a fixed `prefix` (rubric, few-shot examples) shared by all rows, plus one `suffix` per
row. Engines keep the prefix in llama.cpp's KV cache so a row only costs its suffix.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

import polars as pl

from inference.sampling import Sampling


@dataclass(frozen=True)
class Completion:
    text: str
    stopped: bool  # ended on a stop string or end of text, not on the token limit
    prompt_tokens: int
    uncached_tokens: int  # prompt tokens the model had to read for this row
    completion_tokens: int


@dataclass(frozen=True)
class Choice:
    """The probabilities of a fixed set of continuations, renormalised over them."""

    probs: tuple[float, ...] | None  # None when no candidate had any probability
    prompt_tokens: int
    uncached_tokens: int


@dataclass(frozen=True)
class Piece:
    """A stretch of a row's text: its first `read` tokens are read (-1: all), and `scored` of its first
    tokens get their log-probabilities (-1: all that are read)."""

    text: str
    scored: int = 0
    read: int = -1


@dataclass(frozen=True)
class PieceScore:
    logprobs: tuple[float, ...]  # log p(token | everything before it) of each scored token, in order
    tokens: int  # tokens of the piece that were read

    @property
    def logprob(self) -> float:
        return sum(self.logprobs)

    @property
    def scored(self) -> int:
        return len(self.logprobs)


@dataclass(frozen=True)
class Likelihood:
    pieces: tuple[PieceScore, ...]  # one per piece of the row, in order
    probs: tuple[float, ...] | None  # the candidates after the last piece, renormalised; None: none asked
    prompt_tokens: int
    uncached_tokens: int


class Engine(Protocol):
    model_id: str  # sha256 of the GGUF file, or server:<the model id the server reports>
    model_source: str

    def choose(self, prefix: str, suffixes: Sequence[str], candidates: Sequence[str]) -> list[Choice]:
        """For each row, p(candidate | prefix + suffix) for candidates that differ in one token."""
        ...

    def likelihood(
        self, prefix: str, rows: Sequence[Sequence[Piece]], candidates: Sequence[str] = ()
    ) -> list[Likelihood]:
        """For each row (prefix, then its pieces in order): the log-probabilities of the pieces' scored
        tokens, and p(candidate | everything) as in `choose` when candidates are given. The first piece
        of a row is never scored (its first token has no logits to be read from)."""
        ...

    def complete(
        self,
        prefix: str,
        suffixes: Sequence[str],
        sampling: Sampling,
        seeds: Sequence[int],
        stop: Sequence[str],
    ) -> list[Completion]:
        """One sampled continuation per row, each from its own seed."""
        ...

    def sample(
        self,
        prefix: str,
        suffixes: Sequence[str],
        sampling: Sampling,
        seeds: Sequence[Sequence[int]],
        stop: Sequence[str],
    ) -> list[list[Completion]]:
        """Several sampled continuations per row, one per seed of `seeds[row]`: as many `complete` rows,
        but an engine may read the row's prompt once for all of them."""
        ...

    def map_batches(
        self, compute: Callable[[Engine, pl.DataFrame], pl.DataFrame], chunks: Sequence[pl.DataFrame]
    ) -> Iterator[tuple[int, pl.DataFrame]]:
        """(index, compute(engine, chunk)) for every chunk, in the order they finish."""
        ...

    def close(self) -> None: ...


class InProcessBatches:
    """`map_batches` for an engine that runs in this process: one chunk after the other."""

    def map_batches(
        self, compute: Callable[[Engine, pl.DataFrame], pl.DataFrame], chunks: Sequence[pl.DataFrame]
    ) -> Iterator[tuple[int, pl.DataFrame]]:
        for index, chunk in enumerate(chunks):
            yield index, compute(self, chunk)  # type: ignore[arg-type]


def sample_by_completing(
    engine: Engine,
    prefix: str,
    suffixes: Sequence[str],
    sampling: Sampling,
    seeds: Sequence[Sequence[int]],
    stop: Sequence[str],
) -> list[list[Completion]]:
    """`Engine.sample` as one `complete` request per seed, for engines that cannot share a prompt's
    reading between samples (a server shares it through its own prompt cache)."""
    flat = engine.complete(
        prefix,
        [s for s, row in zip(suffixes, seeds, strict=True) for _ in row],
        sampling,
        [seed for row in seeds for seed in row],
        stop,
    )
    out, at = [], 0
    for row in seeds:
        out.append(flat[at : at + len(row)])
        at += len(row)
    return out


def common_prefix(texts: Sequence[str]) -> str:
    first = min(texts)
    last = max(texts)
    n = 0
    while n < len(first) and first[n] == last[n]:
        n += 1
    return first[:n]


def cut_at_stop(text: str, stop: Sequence[str]) -> tuple[str, bool]:
    """The text before the first stop string, and whether one was found."""
    cut = min((i for i in (text.find(s) for s in stop) if i >= 0), default=-1)
    return (text[:cut], True) if cut >= 0 else (text, False)
