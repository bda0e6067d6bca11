"""Self-Instruct's three prompts, in our own words, and the reading of what the model writes.

- `generation`: a numbered list of eight pool instructions; the model continues the list with new
  ones. `parse_numbered_list` reads the continuation.
- `classification`: few-shot; the verdict is p(" Yes") against p(" No") at the end of the prompt.
- `instances`: input-first for open tasks (an input, then its output), output-first for
  classification tasks (a class label, then an input that has it), so that a small model does not
  write inputs that all fall in one class. `parse_instance` reads one instance.

The examples are ours. Instructions shown in a prompt are untrusted model text too (the pool grows
with generated ones); they are shown on one line each, and the parser reads only the completion.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from inference.prompts.common import prompt_version

SHOWN = 8  # instructions shown per generation prompt: 6 human-written, 2 generated when there are any
NEW_ITEMS = 8  # the list may grow to SHOWN + NEW_ITEMS; the stop string ends it there

GENERATION_PREFIX = (
    "Below is a list of tasks an AI assistant can do for a user, one instruction per line. The tasks are "
    "varied: they use different verbs, topics, lengths and formats, some need an input (a text, a list, a "
    "sentence to work on) and some do not, and every one can be done with text alone.\n\n"
)


def one_line(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def generation_suffix(instructions: Sequence[str]) -> str:
    lines = "".join(f"{i}. {one_line(text).rstrip(':')}\n" for i, text in enumerate(instructions, start=1))
    return f"{lines}{len(instructions) + 1}."


def generation_stop(shown: int = SHOWN) -> tuple[str, ...]:
    return ("\n\n", f"\n{shown + NEW_ITEMS + 1}.")


GENERATION_VERSION = prompt_version("self-instruct-generate-v1", f"{GENERATION_PREFIX}|{NEW_ITEMS}")


@dataclass(frozen=True)
class ListItem:
    number: int
    text: str
    complete: bool  # false for the last item of an output the token limit cut off


_NUMBER = re.compile(r"^[ \t]*(\d{1,3})[ \t]*[.)]", re.MULTILINE)


def parse_numbered_list(completion: str, first: int, stopped: bool) -> list[ListItem]:
    """The items of a numbered list that the prompt started at `first` ("9.") and the model continued.

    Items are numbered first, first + 1...; a line that starts with any other number belongs to the
    item before it (a step list inside an instruction), and the list ends at a blank line. When the
    token limit cut the output (`stopped` false), only the last item is unfinished.
    """
    text = f"{first}.{completion.split(chr(10) * 2, 1)[0]}"
    starts: list[tuple[int, int, int]] = []  # (number, start of the marker, start of the text)
    for match in _NUMBER.finditer(text):
        expected = first + len(starts)
        if int(match.group(1)) == expected:
            starts.append((expected, match.start(), match.end()))
    items = []
    for i, (number, _, begin) in enumerate(starts):
        end = starts[i + 1][1] if i + 1 < len(starts) else len(text)
        last = i + 1 == len(starts)
        items.append(ListItem(number, one_line(text[begin:end]), complete=stopped or not last))
    return items


# Classification ---------------------------------------------------------------------------------
_CLASSIFICATION_EXAMPLES = (
    ("Tell me whether this product review is positive or negative.", "Yes"),
    ("Write a short poem about a lighthouse keeper.", "No"),
    ("Which of these animals is a mammal: a shark, a dolphin or a trout?", "Yes"),
    ("Explain how a bill becomes a law in the United States.", "No"),
    ("Is the following sentence grammatically correct?", "Yes"),
    ("Suggest three names for a bakery that sells only bread.", "No"),
    ("Label the email as spam or not spam.", "Yes"),
    ("Summarize the paragraph in one sentence.", "No"),
)
CLASSIFICATION_PREFIX = (
    "Decide for each task whether it is a classification task: one whose correct answer is a label from "
    "a small, fixed set of choices (yes or no, positive or negative, one of a few named categories).\n\n"
    + "".join(f"Task: {task}\nClassification: {label}\n\n" for task, label in _CLASSIFICATION_EXAMPLES)
)
CLASSIFICATION_CANDIDATES = (" Yes", " No")
CLASSIFICATION_VERSION = prompt_version("self-instruct-classify-v1", CLASSIFICATION_PREFIX)


def classification_suffix(instruction: str) -> str:
    return f"Task: {one_line(instruction)}\nClassification:"


# Instances --------------------------------------------------------------------------------------
_INPUT_FIRST_EXAMPLES = (
    ("Sort the numbers from smallest to largest.", "7, 2, 9, 4", "2, 4, 7, 9"),
    (
        "Give two tips for staying focused while studying.",
        "None",
        "1. Put your phone in another room.\n2. Work in blocks of 25 minutes with short breaks.",
    ),
    (
        "Rewrite the sentence in the passive voice.",
        "The committee approved the new budget.",
        "The new budget was approved by the committee.",
    ),
)
_OUTPUT_FIRST_EXAMPLES = (
    (
        "Classify the sentiment of the review as positive or negative.",
        "Negative",
        "The zipper broke after two days and the seller never answered my emails.",
    ),
    ("Is the number prime?", "Yes", "13"),
    (
        "Which season is described: spring, summer, autumn or winter?",
        "Autumn",
        "The leaves turn red and gold and fall from the trees.",
    ),
)
INPUT_FIRST_PREFIX = (
    "Write an example for each task: an input for it (None when the task needs no input), then the "
    "correct output.\n\n"
    + "".join(f"Task: {t}\nInput: {i}\nOutput: {o}\n\n" for t, i, o in _INPUT_FIRST_EXAMPLES)
)
OUTPUT_FIRST_PREFIX = (
    "Write an example for each classification task: first a class label, then an input that has this "
    "label.\n\n"
    + "".join(f"Task: {t}\nClass label: {o}\nInput: {i}\n\n" for t, o, i in _OUTPUT_FIRST_EXAMPLES)
)
INSTANCE_STOP = ("\nTask:", "\n\n\n")
INSTANCES_VERSION = prompt_version(
    "self-instruct-instances-v1", f"{INPUT_FIRST_PREFIX}|{OUTPUT_FIRST_PREFIX}"
)


def instance_prefix(output_first: bool) -> str:
    return OUTPUT_FIRST_PREFIX if output_first else INPUT_FIRST_PREFIX


def instance_suffix(instruction: str, output_first: bool) -> str:
    return f"Task: {one_line(instruction)}\n{'Class label:' if output_first else 'Input:'}"


@dataclass(frozen=True)
class ParsedInstance:
    input: str | None
    output: str | None
    status: str  # ok | unfinished | unparsed


_NO_INPUT = {"", "none", "n/a", "no input", "(none)", "none."}


def _input_text(text: str) -> str:
    text = text.strip()
    return "" if text.lower() in _NO_INPUT else text


def parse_instance(completion: str, output_first: bool, stopped: bool) -> ParsedInstance:
    """One instance from a completion that follows "Input:" (or "Class label:", output first)."""
    if not stopped:
        return ParsedInstance(None, None, "unfinished")
    body = completion.rstrip()
    if output_first:
        label, found, rest = body.partition("\nInput:")
        label = one_line(label)
        # a label with no input line: the task needs no input
        return ParsedInstance(_input_text(rest) if found else "", label, "ok")
    given, found, output = body.partition("\nOutput:")
    if not found:
        return ParsedInstance(None, None, "unparsed")
    return ParsedInstance(_input_text(given), output.strip(), "ok")
