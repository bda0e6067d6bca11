"""The backward model's prompt, p(instruction | output), and the cleaning of what it writes.

Until a fine-tuned backward model exists, the base model is prompted few-shot with seed pairs shown
output first. The examples and the task description make up a fixed prefix that is the same for every
segment, so llama.cpp keeps it in its KV cache and each row only costs its own segment's tokens.
A fine-tuned backward model (humpback_train) is prompted as it was trained: the segment as the
instruction of the chat format (prompts/chat.py), the request as its response.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import polars as pl

from inference.prompts.chat import FORMAT, INSTRUCTION_HEAD, RESPONSE_HEAD
from inference.prompts.common import fence, prompt_version

TEMPLATE = "backtranslate-fewshot-v1"
CHAT_TEMPLATE = "backtranslate-chat-v1"
FEW_SHOT_KIND = "few_shot_base"
FINE_TUNED_KIND = "fine_tuned"
PROMPT_FORMATS = ("few-shot", "chat")  # the base model prompted with examples | a model we fine-tuned

_TASK = (
    "Each text below is the reply an AI assistant gave to one request from a user. After each reply "
    "comes the request it answers: a single instruction or question, written the way the user typed it."
)
STOP = ("\n",)  # an instruction is one line; the examples end each one with a newline
CHAT_STOP = ("\n### ",)  # a fine-tuned model ends with its end-of-sequence token, or starts a new section

MIN_WORDS, MAX_WORDS = 3, 80
# What cleaning makes of a draw (`clean_instruction`): only `ok` keeps an instruction
INSTRUCTION_STATUSES = frozenset(
    {"ok", "empty", "too_short", "too_long", "no_stop", "copied_example", "needs_input", "not_a_question"}
)
_LABEL = re.compile(r"^\s*(?:instruction|request|question|user)\s*:\s*", re.IGNORECASE)
_QUOTES = "\"'`“”‘’"
# A request that points at a text it does not contain ("Rewrite this", "the following", "the above"): a
# web segment never comes with an input. "this year" and its kin point at a time, not a text.
_NEEDS_INPUT = re.compile(
    r"\b(?:this|these|those)\b(?! (?:year|week|month|time|way|season|morning|evening|weekend)\b)"
    r"|\b(?:the following|above|below)\b|:$",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class BacktranslatePrompt:
    """The fixed few-shot prefix, and how each segment is put after it."""

    prefix: str
    version: str
    seed_ids: tuple[str, ...]
    chat: bool = False

    def suffix(self, segment: str) -> str:
        if self.chat:  # prefix + suffix == render_prompt(segment), the backward model's training prompt
            return f"{segment.strip()}{RESPONSE_HEAD}"
        return f"Reply:\n{fence(segment)}\nRequest:"

    @property
    def stop(self) -> tuple[str, ...]:
        return CHAT_STOP if self.chat else STOP

    @property
    def kind(self) -> str:
        return FINE_TUNED_KIND if self.chat else FEW_SHOT_KIND


def _eligible_examples(seeds: pl.DataFrame, n_examples: int, prose: bool = True) -> pl.DataFrame:
    """Short, one-line-instruction seeds, in an order fixed by their ids (not by load order).

    `prose`: only seeds that look like what a web segment answers, a request on its own (no quoted
    text to work on) answered in prose (no code, few digits). With the embedded seeds the first three
    by id were otherwise a spam check and two sums, and the base model wrote arithmetic problems for
    pages about anything (benchmarks/augmentation_quality.py, tune split).
    """
    words = pl.col("output").str.count_matches(r"\S+")
    request_words = pl.col("instruction").str.count_matches(r"\S+")
    eligible = seeds.filter(
        ~pl.col("instruction").str.contains("\n"),
        words.is_between(25, 250 if prose else 140),
        request_words.is_between(MIN_WORDS, 25 if prose else 40),
    )
    if prose:
        digits = pl.col("output").str.count_matches(r"\d") / pl.col("output").str.len_chars()
        eligible = eligible.filter(
            ~pl.col("instruction").str.contains(r"[\"“”:]"),
            ~pl.col("output").str.contains("```", literal=True),
            digits < 0.03,
        )
    if eligible.height < n_examples:
        eligible = seeds.filter(~pl.col("instruction").str.contains("\n"))
    if eligible.height < n_examples:
        raise ValueError(
            f"need {n_examples} seed pairs with a one-line instruction for the few-shot prompt, "
            f"found {eligible.height}: load seeds first (humpback seed load)"
        )
    return eligible.sort("seed_id").head(n_examples)  # seed ids are content hashes: a fixed shuffle


def build_backtranslate_prompt(
    seeds: pl.DataFrame, n_examples: int = 3, prose: bool = True
) -> BacktranslatePrompt:
    examples = _eligible_examples(seeds, n_examples, prose)
    shots = "".join(
        f"Reply:\n{fence(row['output'])}\nRequest: {row['instruction'].strip()}\n\n"
        for row in examples.iter_rows(named=True)
    )
    prefix = f"{_TASK}\n\n{shots}"
    return BacktranslatePrompt(
        prefix=prefix,
        version=prompt_version(TEMPLATE, prefix),
        seed_ids=tuple(examples["seed_id"].to_list()),
    )


def build_chat_backtranslate_prompt() -> BacktranslatePrompt:
    """The fine-tuned backward model's prompt: no examples, no system line, as in its training rows."""
    return BacktranslatePrompt(
        prefix=INSTRUCTION_HEAD,
        version=prompt_version(CHAT_TEMPLATE, f"{FORMAT}|{INSTRUCTION_HEAD}|{RESPONSE_HEAD}"),
        seed_ids=(),
        chat=True,
    )


def clean_instruction(
    raw: str,
    stopped: bool,
    examples: frozenset[str] = frozenset(),
    first_line: bool = True,
    questions_only: bool = True,
) -> tuple[str | None, str]:
    """(instruction, status): the first line (or, for a fine-tuned model, all of it), trimmed of labels
    and quotes, within the length bounds.

    A small model often repeats one of the prompt's example instructions word for word; such a copy
    says nothing about the segment and gets the status `copied_example`. An instruction a segment cannot
    answer by its form is `needs_input` or `not_a_question` (`answerable_form`).
    """
    if not stopped:
        return None, "no_stop"  # the token limit cut it off: an unfinished instruction is not kept
    line = raw.strip().split("\n", 1)[0] if first_line else raw.strip()
    line = _LABEL.sub("", line).strip().strip(_QUOTES).strip()
    line = re.sub(r"\s+", " ", line)
    if not line:
        return None, "empty"
    n_words = len(line.split())
    if n_words < MIN_WORDS:
        return None, "too_short"
    if n_words > MAX_WORDS:
        return None, "too_long"
    if line in examples:
        return None, "copied_example"
    form = answerable_form(line, questions_only)
    return (line, form) if form == "ok" else (None, form)


def answerable_form(instruction: str, questions_only: bool = True) -> str:
    """`ok` for a question that stands on its own; `needs_input` for one that points at a text it does not
    contain; `not_a_question` for a statement or a command. Read one by one (tests/data/answered_pairs),
    the backward model's instructions in these two forms were answered by their segments 5% and 13% of
    the time, its self-contained questions 36%: a row draws again rather than keep them."""
    if _NEEDS_INPUT.search(instruction):
        return "needs_input"
    if questions_only and not instruction.endswith("?"):
        return "not_a_question"
    return "ok"
