"""The fast test set's model: `FakeEngine`, a deterministic stand-in with the engine interface of
`inference/engines/base.py`, for tests of what a model stage does with a model's output (which rows it
computes, how it commits, resumes and stamps them, what the views, exports and the CLI make of them).

What depends on the model itself (prompt formats, tokenisation, likelihood signals, serving) is tested
on the real embedded GGUF (tests marked `model`, `server`). Here, as distilabel's unit tests use a dummy
LLM, nothing is loaded and every answer is a pure function of its input:

- **Tokens** are words with their leading white space (`TOKEN`); every token is read in full, never
  merged across pieces, and the fixed prefix is read once (`uncached_tokens` counts a row's own tokens).
- **Log-probabilities**: a token whose word appeared earlier in the row's context (prefix and the text
  before it) costs `SEEN` nats, any other a fixed amount between 2 and 4 nats from a hash of the word.
  So an answer is likelier under an instruction that shares its words, as with a real model, and the
  same row gives the same numbers in any batch.
- **Choices** between single-token candidates: probabilities from a hash of the context's end and the
  candidate.
- **Completions** continue the prompt's few-shot pattern: when the prompt's last line starts as an
  earlier example's line did ("Request:", "Input:", "Reason:"), the fake writes that example's lines
  with the labels kept and the content made of the row's own words (a number stays a number, 1-5),
  drawn by the row's seed (by the row alone at temperature 0). Otherwise it writes one question made of
  the row's words. It stops at the prompt's stop strings or the end of the example, and at
  `max_new_tokens` tokens without stopping. `copy_rate`: the share of draws that copy an example's
  content word for word instead, as a small base model does.

`delay_s` sleeps before every batch, so that a test can kill a run in the middle; `crash_after` raises
KeyboardInterrupt (as a ^C) instead of the batch of that index.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Callable, Iterator, Sequence

import polars as pl
import xxhash

from inference.engines.base import (
    Choice,
    Completion,
    Engine,
    Likelihood,
    Piece,
    PieceScore,
    cut_at_stop,
)
from inference.sampling import Sampling

MODEL_ID = "fake-engine-v1"
TOKEN = re.compile(r"\s*\S+|\s+")
SEEN = -0.5  # log-probability of a word that the context already holds
_WORD = re.compile(r"[a-z0-9]+")
_LABEL = re.compile(r"^([A-Z][\w ]{0,24}:)(.*)$")


def _hash(text: str) -> int:
    return xxhash.xxh64_intdigest(text.encode())


def tokens_of(text: str) -> list[str]:
    return TOKEN.findall(text)


def _key(token: str) -> str:
    return " ".join(_WORD.findall(token.lower()))


def token_logprob(token: str, seen: set[str]) -> float:
    key = _key(token)
    if key and key in seen:
        return SEEN
    return -2.0 - (_hash(key or token) % 200) / 100


class FakeEngine:
    """A deterministic engine without a model (module docstring)."""

    def __init__(
        self,
        model_id: str = MODEL_ID,
        *,
        model_source: str = "fake",
        copy_rate: float = 0.0,
        delay_s: float = 0.0,
        crash_after: int | None = None,
    ) -> None:
        self.model_id = model_id
        self.model_source = model_source
        self.copy_rate = copy_rate
        self.delay_s = delay_s
        self.crash_after = crash_after
        self.closed = False

    # Likelihoods ---------------------------------------------------------------------------------
    def likelihood(
        self, prefix: str, rows: Sequence[Sequence[Piece]], candidates: Sequence[str] = ()
    ) -> list[Likelihood]:
        for candidate in candidates:
            if len(tokens_of(candidate)) != 1:
                raise ValueError(f"the candidates {list(candidates)} are not single tokens after this prompt")
        prefix_tokens = tokens_of(prefix)
        results = []
        for pieces in rows:
            if not pieces:
                raise ValueError("a row has no tokens")
            seen = {_key(t) for t in prefix_tokens}
            context = prefix
            scores, read_total = [], 0
            for j, piece in enumerate(pieces):
                tokens = tokens_of(piece.text)
                if piece.read >= 0 and not (candidates and j == len(pieces) - 1):
                    tokens = tokens[: piece.read]  # as the real engine: the candidates follow it whole
                n_scored = len(tokens) if piece.scored < 0 else min(piece.scored, len(tokens))
                if n_scored and j == 0:
                    raise ValueError("the first piece of a row cannot be scored")
                logprobs = []
                for k, token in enumerate(tokens):
                    if k < n_scored:
                        logprobs.append(token_logprob(token, seen))
                    seen.add(_key(token))
                context += "".join(tokens)
                read_total += len(tokens)
                scores.append(PieceScore(tuple(logprobs), len(tokens)))
            results.append(
                Likelihood(
                    pieces=tuple(scores),
                    probs=_candidate_probs(context, candidates) if candidates else None,
                    prompt_tokens=len(prefix_tokens) + read_total,
                    uncached_tokens=read_total,
                )
            )
        return results

    def choose(self, prefix: str, suffixes: Sequence[str], candidates: Sequence[str]) -> list[Choice]:
        found = self.likelihood(prefix, [[Piece(s)] for s in suffixes], candidates)
        return [Choice(f.probs, f.prompt_tokens, f.uncached_tokens) for f in found]

    # Completions ---------------------------------------------------------------------------------
    def complete(
        self,
        prefix: str,
        suffixes: Sequence[str],
        sampling: Sampling,
        seeds: Sequence[int],
        stop: Sequence[str],
    ) -> list[Completion]:
        return [row[0] for row in self.sample(prefix, suffixes, sampling, [[s] for s in seeds], stop)]

    def sample(
        self,
        prefix: str,
        suffixes: Sequence[str],
        sampling: Sampling,
        seeds: Sequence[Sequence[int]],
        stop: Sequence[str],
    ) -> list[list[Completion]]:
        prefix_tokens = len(tokens_of(prefix))
        out = []
        for suffix, row_seeds in zip(suffixes, seeds, strict=True):
            if not row_seeds:
                raise ValueError("a row asks for 0 samples")
            own = len(tokens_of(suffix))
            row = []
            for draw, seed in enumerate(row_seeds):
                text, stopped, n = self._write(prefix, suffix, sampling, seed, stop)
                row.append(Completion(text, stopped, prefix_tokens + own, own if draw == 0 else 0, n))
            out.append(row)
        return out

    def _write(
        self, prefix: str, suffix: str, sampling: Sampling, seed: int, stop: Sequence[str]
    ) -> tuple[str, bool, int]:
        prompt = prefix + suffix
        draw = seed if sampling.temperature > 0 else 0
        rng = random.Random(_hash(f"{suffix}|{draw}"))
        # the segment's words, less those that point at a text (a request built of them would fail
        # augmentation's form check, answerable_form, as a real model's seldom does)
        words = [
            w for w in re.findall(r"[A-Za-z][A-Za-z'-]+", suffix) if len(w) > 2 and w.lower() not in _POINTERS
        ] or ["thing"]
        copy = rng.random() < self.copy_rate
        example = _example_after(prompt)
        if example is None:
            text = " " + _sentence(rng, words, rng.randint(4, 9), "?")
        else:
            text = "\n".join(_fill(line, rng, words, copy, first=i == 0) for i, line in enumerate(example))
        cut, stopped = cut_at_stop(text + "\n\n", stop)
        if not stopped:  # the end of the example: the end-of-text token
            cut, stopped = text, True
        tokens = tokens_of(cut)
        if len(tokens) > sampling.max_new_tokens:
            return "".join(tokens[: sampling.max_new_tokens]), False, sampling.max_new_tokens
        return cut, stopped, len(tokens)

    # Batches -------------------------------------------------------------------------------------
    def map_batches(
        self, compute: Callable[[Engine, pl.DataFrame], pl.DataFrame], chunks: Sequence[pl.DataFrame]
    ) -> Iterator[tuple[int, pl.DataFrame]]:
        for index, chunk in enumerate(chunks):
            if index == self.crash_after:
                raise KeyboardInterrupt
            if self.delay_s:
                time.sleep(self.delay_s)
            yield index, compute(self, chunk)  # type: ignore[arg-type]

    def close(self) -> None:
        self.closed = True


_POINTERS = frozenset({"this", "these", "those", "following", "above", "below"})


def _candidate_probs(context: str, candidates: Sequence[str]) -> tuple[float, ...]:
    tail = context[-300:]
    weights = [2.0 ** (-(_hash(f"{tail}|{c}") % 1000) / 250) for c in candidates]
    total = sum(weights)
    return tuple(w / total for w in weights)


def _example_after(prompt: str) -> list[str] | None:
    """The lines an earlier example wrote after the prompt's last line (its label first, its own
    content after the label), to the end of that example; None when no example starts that way."""
    head, _, last = prompt.rpartition("\n")
    label = last.strip()
    if not label or not head:
        return None
    at = head.find("\n" + label)
    if at < 0:
        return None
    block = head[at + 1 + len(label) :].split("\n\n", 1)[0]
    lines = block.split("\n")
    return lines if lines[0].strip() else None


def _fill(line: str, rng: random.Random, words: list[str], copy: bool, first: bool) -> str:
    """An example's line with its content replaced: the label kept, a number by a number."""
    label, content = ("", line) if first else _split_label(line)
    if copy:
        return line
    stripped = content.strip()
    if re.fullmatch(r"\d+", stripped):
        new = str(rng.randint(1, 5))
    else:
        n = max(2, min(len(stripped.split()), 12))
        # the request itself is a question, the form augmentation keeps (answerable_form); later lines
        # keep their example's ending
        end = "?" if first else stripped[-1] if stripped and stripped[-1] in ".?!" else ""
        new = _sentence(rng, words, n, end)
    return f"{label} {new}" if label else f" {new}"


def _split_label(line: str) -> tuple[str, str]:
    found = _LABEL.match(line)
    return (found.group(1), found.group(2)) if found else ("", line)


def _sentence(rng: random.Random, words: list[str], n: int, end: str) -> str:
    picked = [rng.choice(words).lower() for _ in range(n)]
    return (" ".join(picked).capitalize() + end) if picked else end


def fake_opener(**options: object) -> tuple[Callable[..., FakeEngine], list[FakeEngine]]:
    """A stand-in for `inference.engines.open_engine`, through which the CLI opens every in-process or
    served model: each call returns a new `FakeEngine(**options)`, named after the `--model` path or
    `--server` URL when one is given (so that two models stay apart), and is appended to the list."""
    opened: list[FakeEngine] = []

    def open_fake(model: object = None, server: str | None = None, **_: object) -> FakeEngine:
        named = model if model is not None else server
        name = MODEL_ID if named is None else f"{MODEL_ID}:{named}"
        engine = FakeEngine(name, model_source=str(named or "fake"), **options)  # type: ignore[arg-type]
        opened.append(engine)
        return engine

    return open_fake, opened


def use_fake_engine(**options: object) -> list[FakeEngine]:
    """Replace `open_engine` for the rest of this process (`tests/fake_cli.py`; tests use the
    `fake_engines` fixture, which undoes it)."""
    import inference.engines

    open_fake, opened = fake_opener(**options)
    inference.engines.open_engine = open_fake  # type: ignore[assignment]
    return opened
