"""The turn format of the models this engine fine-tunes, shared by training and inference.

A fine-tuned model is prompted exactly as its training examples were rendered, so the one function that
renders a prompt lives here and both `humpback_train` and the model stages call it. The format is plain
text with section labels, not a tokenizer's chat template, so that any base model (Gemma, Llama, Qwen)
trains and runs the same way; the completion ends with the tokenizer's end-of-sequence token, on which
llama.cpp stops.
"""

from __future__ import annotations

import polars as pl

FORMAT = "humpback-chat-v1"

# The paper's system prompts: seed pairs, augmented pairs, and both together at inference (its best).
SEED_SYSTEM = "Answer in the style of an AI Assistant."
WEB_SYSTEM = "Answer with knowledge from web search."
COMBINED_SYSTEM = f"{SEED_SYSTEM} {WEB_SYSTEM}"
SYSTEM_PROMPTS = {"seed": SEED_SYSTEM, "web": WEB_SYSTEM, "combined": COMBINED_SYSTEM}

SYSTEM_OPEN, SYSTEM_CLOSE = "### System:\n", "\n\n"
INSTRUCTION_HEAD = "### Instruction:\n"
RESPONSE_HEAD = "\n\n### Response:\n"


def system_head(system: str | None) -> str:
    return f"{SYSTEM_OPEN}{system}{SYSTEM_CLOSE}" if system else ""


def prompt_expr(instruction: pl.Expr, system: pl.Expr) -> pl.Expr:
    """Everything before the response, for a column of rows: the model writes from here on."""
    head = (
        pl.when(system.is_not_null() & (system != ""))
        .then(pl.concat_str([pl.lit(SYSTEM_OPEN), system, pl.lit(SYSTEM_CLOSE)]))
        .otherwise(pl.lit(""))
    )
    return pl.concat_str(
        [head, pl.lit(INSTRUCTION_HEAD), instruction.str.strip_chars(), pl.lit(RESPONSE_HEAD)]
    )


def render_prompt(instruction: str, system: str | None = None) -> str:
    """One row's prompt, through the same expression."""
    frame = pl.DataFrame(
        {"instruction": [instruction], "system": [system]},
        schema={"instruction": pl.String, "system": pl.String},
    )
    return frame.select(prompt_expr(pl.col("instruction"), pl.col("system"))).item()
