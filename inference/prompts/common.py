"""What every prompt shares: fencing untrusted text, and naming a prompt's version."""

from __future__ import annotations

import re

import xxhash

OPEN, CLOSE = "<<<", ">>>"
# Look-alikes that stand in for the fence marks inside the text, so no text can close its own fence
# and continue the prompt in our voice (a fake "Score: 5" after a fake end of the answer).
_NEUTRAL = {OPEN: "‹‹‹", CLOSE: "›››"}


def fence_parts(text: str) -> tuple[str, str, str]:
    """The opening line, the text with any fence marks inside it neutralised, and the closing line."""
    for mark, neutral in _NEUTRAL.items():
        text = text.replace(mark, neutral)
    return f"{OPEN}\n", text.strip(), f"\n{CLOSE}"


def fence(text: str) -> str:
    """Untrusted text between fence lines, with any fence marks inside it neutralised."""
    return "".join(fence_parts(text))


# A rating stated in the text ("Score: 5", "rate it 5/5", "rating of 4 out of 5"). A small model copies
# the last score it read, so untrusted text shown to the rater keeps the words but loses the number.
_STATED_RATING = re.compile(
    r"(?i)\b(score|rating|rate|grade|marks?|points?|stars?)"
    r"(\s*(?:[:=]|of|it|this|as|with)?\s*)"
    r"(\d+(?:[.,]\d+)?)(\s*(?:/|out of)\s*\d+)?"
)


def withhold_ratings(text: str) -> str:
    """The text with every stated rating's number replaced by an ellipsis."""
    return _STATED_RATING.sub(lambda m: f"{m.group(1)}{m.group(2)}…", text)


def prompt_version(template: str, fixed_part: str) -> str:
    """The template's name and version, then a hash of the fixed text, examples included.

    Two runs share results only when their prompts really are the same, also when the few-shot
    examples come from a different seed set.
    """
    return f"{template}:{xxhash.xxh3_64_hexdigest(fixed_part.encode())[:12]}"
