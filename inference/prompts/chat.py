"""The turn format of the models this engine fine-tunes, shared by training and inference.

A fine-tuned model is prompted exactly as its training examples were rendered, so the one function that
renders a prompt lives here and both `humpback_train` and the model stages call it. The format is plain
text with section labels, not a tokenizer's chat template, so that any base model (Gemma, Llama, Qwen)
trains and runs the same way; the completion ends with the tokenizer's end-of-sequence token, on which
llama.cpp stops.
"""

from __future__ import annotations

FORMAT = "humpback-chat-v1"

# The paper's system prompts: seed pairs, augmented pairs, and both together at inference (its best).
SEED_SYSTEM = "Answer in the style of an AI Assistant."
WEB_SYSTEM = "Answer with knowledge from web search."
COMBINED_SYSTEM = f"{SEED_SYSTEM} {WEB_SYSTEM}"
SYSTEM_PROMPTS = {"seed": SEED_SYSTEM, "web": WEB_SYSTEM, "combined": COMBINED_SYSTEM}

INSTRUCTION_HEAD = "### Instruction:\n"
RESPONSE_HEAD = "\n\n### Response:\n"


def system_head(system: str | None) -> str:
    return f"### System:\n{system}\n\n" if system else ""


def render_prompt(instruction: str, system: str | None = None) -> str:
    """Everything before the response: the model writes from here on."""
    return f"{system_head(system)}{INSTRUCTION_HEAD}{instruction.strip()}{RESPONSE_HEAD}"
