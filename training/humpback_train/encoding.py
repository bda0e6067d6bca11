"""Token ids and the loss mask: the prompt is context, only the completion (and its end-of-sequence
token) is learned. Prompt and completion are tokenized apart, as llama.cpp reads a prompt and then
generates after it. A row too long for `max_length` keeps its completion whole when that fits in half
the length, and its prompt loses the end of its instruction text (never the response marker) to make
room; a longer completion is cut at its end."""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from inference.prompts.chat import RESPONSE_HEAD


@dataclass(frozen=True)
class Encoded:
    input_ids: list[list[int]]
    completion_mask: list[list[int]]  # 1 on completion tokens: the only ones the loss counts
    prompt_cut: int  # rows whose instruction text was shortened
    completion_cut: int  # rows whose completion was cut at max_length

    @property
    def n_tokens(self) -> int:
        return sum(len(ids) for ids in self.input_ids)


def _prompt_ids(tokenizer, prompt: str) -> list[int]:
    return tokenizer(prompt, add_special_tokens=True)["input_ids"]


def _shorten(tokenizer, prompt: str, budget: int) -> list[int]:
    """The prompt's ids within `budget` tokens, cutting the instruction text before the response marker."""
    body, _, _ = prompt.rpartition(RESPONSE_HEAD)
    ids = _prompt_ids(tokenizer, prompt)
    while len(ids) > budget and body:
        keep = max(0, int(len(body) * budget / len(ids) * 0.95) - 1)
        body = body[:keep]
        ids = _prompt_ids(tokenizer, body + RESPONSE_HEAD)
    return ids


def encode(tokenizer, prompts: pl.Series, completions: pl.Series, max_length: int) -> Encoded:
    eos = tokenizer.eos_token_id
    input_ids, masks = [], []
    prompt_cut = completion_cut = 0
    if prompts.is_empty():  # e.g. no held-out rows: a tokenizer fails on an empty batch
        return Encoded(input_ids, masks, prompt_cut, completion_cut)
    completion_ids = tokenizer(list(completions), add_special_tokens=False)["input_ids"]
    all_prompt_ids = tokenizer(list(prompts), add_special_tokens=True)["input_ids"]
    for prompt, prompt_ids, completion in zip(prompts, all_prompt_ids, completion_ids, strict=True):
        completion = [*completion, eos]
        room = max_length - min(len(completion), max_length // 2)
        if len(prompt_ids) > room:
            prompt_ids = _shorten(tokenizer, prompt, room)
            prompt_cut += 1
        if len(prompt_ids) + len(completion) > max_length:
            completion = completion[: max_length - len(prompt_ids)]
            completion_cut += 1
        input_ids.append(prompt_ids + completion)
        masks.append([0] * len(prompt_ids) + [1] * len(completion))
    return Encoded(input_ids, masks, prompt_cut, completion_cut)
