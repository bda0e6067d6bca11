"""A running llama.cpp server as the model: upstream `llama-server` or `python -m llama_cpp.server`.

Both speak the OpenAI-compatible `/v1/completions`. As many requests are kept in flight as the server
has slots (`llama-server --parallel N`, read from its `/props` or `/slots`), so that it batches them.
Every request starts with the same fixed prefix and asks for `cache_prompt`: a slot keeps the prefix
it last read and reads only the new row, and each row records the prompt tokens the server says it
really evaluated (`timings.prompt_n`).
A model with sliding-window attention (Gemma 3) keeps its cached prompt only when llama-server runs
with `--swa-full`, as `humpback serve` starts it; each slot then reads the prefix once.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

from inference.engines.base import (
    Choice,
    Completion,
    InProcessBatches,
    Likelihood,
    Piece,
    PieceScore,
    common_prefix,
    sample_by_completing,
)
from inference.sampling import Sampling

TOP_LOGPROBS = 20  # the five score digits are nearly always among the 20 likeliest tokens
_NO_PROMPT_LOGPROBS = (
    "The calibrated mode's signals and the ranking of several draws per segment (augment --candidates "
    "above 1) need the log-probabilities of the prompt's own tokens (/v1/completions with echo): "
    "python -m llama_cpp.server gives them with --logits_all true (its default; make serve "
    "SERVER_IMPL=python), upstream llama-server does not (it answers 'Only no echo is supported'). "
    "Use --mode direct or reasoned and augment --candidates 1 with {url}, or the model file in-process "
    "(--model)."
)


class ServerError(RuntimeError):
    pass


class ServerEngine(InProcessBatches):
    """`concurrency`: requests in flight when the server does not report its slot count."""

    def __init__(self, url: str, concurrency: int = 4, timeout_s: float = 600.0) -> None:
        self.url = url.rstrip("/")
        self.model_source = self.url
        self._client = httpx.Client(base_url=self.url, timeout=timeout_s)
        try:
            models = self._client.get("/v1/models").raise_for_status().json()
        except httpx.HTTPError as exc:
            raise ServerError(f"no llama.cpp server answers at {self.url}: {exc}") from exc
        served = models.get("data") or [{}]
        self.model_id = f"server:{served[0].get('id', 'unknown')}"
        self.slots = self._slot_count()
        # upstream llama-server reports its slots; llama_cpp.server has neither endpoint
        self.upstream = self.slots is not None
        self.concurrency = self.slots or max(1, concurrency)
        self._pool = ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="llama-request")

    def _slot_count(self) -> int | None:
        """The server's parallel slots: `/props` (`total_slots`), else the length of `/slots`."""
        for path in ("/props", "/slots"):
            try:
                response = self._client.get(path)
            except httpx.HTTPError:
                continue
            if response.status_code != 200:
                continue
            body = response.json()
            if isinstance(body, dict) and isinstance(body.get("total_slots"), int):
                return body["total_slots"]
            if isinstance(body, list) and body:
                return len(body)
        return None

    def _post(self, payload: dict[str, Any]) -> dict[str, Any]:
        try:
            response = self._client.post("/v1/completions", json=payload)
        except httpx.HTTPError as exc:
            raise ServerError(f"request to {self.url} failed: {exc}") from exc
        if response.status_code != 200:
            raise ServerError(f"{self.url} answered {response.status_code}: {response.text[:500]}")
        return response.json()

    def complete(
        self,
        prefix: str,
        suffixes: Sequence[str],
        sampling: Sampling,
        seeds: Sequence[int],
        stop: Sequence[str],
    ) -> list[Completion]:
        def one(suffix: str, seed: int) -> Completion:
            body = self._post(
                {
                    "prompt": prefix + suffix,
                    "max_tokens": sampling.max_new_tokens,
                    "temperature": sampling.temperature,
                    "top_p": sampling.top_p,
                    # both servers default to top-k 40 and min-p 0.05: off, so the nucleus is the paper's
                    "top_k": 0,
                    "min_p": 0.0,
                    "seed": seed & 0x7FFF_FFFF,
                    "stop": list(stop),
                    "cache_prompt": True,
                }
            )
            choice = body["choices"][0]
            usage = body.get("usage") or {}
            return Completion(
                text=choice.get("text") or "",
                stopped=choice.get("finish_reason") != "length",
                prompt_tokens=int(usage.get("prompt_tokens") or 0),
                uncached_tokens=_uncached(body, usage),
                completion_tokens=int(usage.get("completion_tokens") or 0),
            )

        return list(self._pool.map(one, suffixes, seeds))

    def sample(
        self,
        prefix: str,
        suffixes: Sequence[str],
        sampling: Sampling,
        seeds: Sequence[Sequence[int]],
        stop: Sequence[str],
    ) -> list[list[Completion]]:
        return sample_by_completing(self, prefix, suffixes, sampling, seeds, stop)

    def choose(self, prefix: str, suffixes: Sequence[str], candidates: Sequence[str]) -> list[Choice]:
        shared = common_prefix(candidates)
        wanted = [c[len(shared) :].strip() for c in candidates]

        def one(suffix: str) -> Choice:
            body = self._post(
                {
                    "prompt": prefix + suffix + shared,
                    "max_tokens": 1,
                    "temperature": 0.0,
                    "logprobs": TOP_LOGPROBS,
                    "cache_prompt": True,
                }
            )
            mass = [0.0] * len(wanted)
            for token, logprob in _top_logprobs(body["choices"][0]):
                if token.strip() in wanted:
                    mass[wanted.index(token.strip())] += math.exp(logprob)
            total = sum(mass)
            usage = body.get("usage") or {}
            return Choice(
                probs=tuple(m / total for m in mass) if total > 0 else None,
                prompt_tokens=int(usage.get("prompt_tokens") or 0),
                uncached_tokens=_uncached(body, usage),
            )

        return list(self._pool.map(one, suffixes))

    def likelihood(
        self, prefix: str, rows: Sequence[Sequence[Piece]], candidates: Sequence[str] = ()
    ) -> list[Likelihood]:
        """Prompt-token log-probabilities through `/v1/completions` with `echo`, which
        `python -m llama_cpp.server` returns (its `logits_all` setting, on by default). Upstream
        `llama-server` returns log-probabilities of generated tokens only: that is an error here,
        not a silent zero. Tokens belong to the piece their first character is in."""
        if self.upstream:  # known before any request: llama-server rejects echo
            raise ServerError(
                f"{self.url} is upstream llama-server, which returns no log-probabilities for the "
                "prompt's tokens. " + _NO_PROMPT_LOGPROBS.format(url=self.url)
            )
        shared = common_prefix(candidates) if candidates else ""
        wanted = [c[len(shared) :].strip() for c in candidates]

        def one(pieces: Sequence[Piece]) -> Likelihood:
            text = prefix + "".join(p.text for p in pieces)
            request = {
                "prompt": text + shared,
                "max_tokens": 1,
                "temperature": 0.0,
                "logprobs": TOP_LOGPROBS if candidates else 1,
                "echo": True,
                "cache_prompt": True,
            }
            try:
                body = self._post(request)
            except ServerError as exc:
                raise ServerError(f"{exc}\n{_NO_PROMPT_LOGPROBS.format(url=self.url)}") from exc
            choice = body["choices"][0]
            logprobs = choice.get("logprobs") or {}
            offsets, values = logprobs.get("text_offset"), logprobs.get("token_logprobs")
            if not offsets or not values or len(values) < 2 or offsets[-1] < len(prefix):
                raise ServerError(
                    f"{self.url} returned no log-probabilities for the prompt's tokens. "
                    + _NO_PROMPT_LOGPROBS.format(url=self.url)
                )
            scores = []
            start = len(prefix)
            for piece in pieces:
                end = start + len(piece.text)
                inside = [i for i, o in enumerate(offsets) if start <= o < end]
                read = inside if piece.read < 0 else inside[: piece.read]
                count = len(read) if piece.scored < 0 else min(piece.scored, len(read))
                scores.append(
                    PieceScore(
                        tuple(float(values[i]) for i in read[:count] if values[i] is not None), len(read)
                    )
                )
                start = end
            probs = None
            if candidates:
                mass = [0.0] * len(wanted)
                for token, logprob in _top_logprobs_at(logprobs, len(offsets) - 1):
                    if token.strip() in wanted:
                        mass[wanted.index(token.strip())] += math.exp(logprob)
                total = sum(mass)
                probs = tuple(m / total for m in mass) if total > 0 else None
            usage = body.get("usage") or {}
            return Likelihood(
                pieces=tuple(scores),
                probs=probs,
                prompt_tokens=int(usage.get("prompt_tokens") or 0),
                uncached_tokens=_uncached(body, usage),
            )

        return list(self._pool.map(one, rows))

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        self._client.close()


def _uncached(body: dict[str, Any], usage: dict[str, Any]) -> int:
    """Tokens the server really read: llama-server reports them in `timings`; otherwise assume all."""
    timings = body.get("timings") or {}
    if "prompt_n" in timings:
        return int(timings["prompt_n"])
    return int(usage.get("prompt_tokens") or 0)


def _top_logprobs_at(logprobs: dict[str, Any], index: int) -> list[tuple[str, float]]:
    """The alternatives at one token of an echoed prompt and its completion (llama_cpp.server's shape)."""
    top = logprobs.get("top_logprobs") or []
    return list((top[index] or {}).items()) if index < len(top) else []


def _top_logprobs(choice: dict[str, Any]) -> list[tuple[str, float]]:
    """The first generated token's alternatives, in either server's shape."""
    logprobs = choice.get("logprobs") or {}
    top = logprobs.get("top_logprobs")
    if top:  # llama_cpp.server and the legacy OpenAI shape: [{token: logprob, ...}, ...]
        return list(top[0].items())
    content = logprobs.get("content")
    if content:  # upstream llama-server: [{token, logprob, top_logprobs: [{token, logprob}]}]
        return [(t["token"], t["logprob"]) for t in content[0].get("top_logprobs", [])]
    return []
