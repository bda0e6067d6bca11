"""An evaluation prompt set: the prompts of a JSONL file, written once to `eval_prompts`.

A prompt is known by the hash of its text (whitespace collapsed), so two files holding the same question
share its answers; a prompt repeated within a file counts once. The set is known by its prompt ids in
order, so rewriting an unchanged file changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import xxhash

from warehouse.exports import read_prompt_file
from warehouse.schemas import EVAL_PROMPTS
from warehouse.store import Warehouse


def prompt_id_expr(text: pl.Expr) -> pl.Expr:
    collapsed = text.str.strip_chars().str.replace_all(r"\s+", " ")
    return collapsed.map_elements(lambda t: xxhash.xxh3_128_hexdigest(t.encode()), return_dtype=pl.String)


@dataclass(frozen=True)
class PromptSet:
    prompt_set: str
    source: str
    prompts: pl.DataFrame  # prompt_id, position, source_id, category, instruction, source
    repeated: int  # lines whose prompt an earlier line already had

    @property
    def categories(self) -> list[str]:
        return sorted(self.prompts["category"].drop_nulls().unique().to_list())


def register_prompts(warehouse: Warehouse, path: Path | str, limit: int | None = None) -> PromptSet:
    """Read a prompt file (its first `limit` prompts) and write it to `eval_prompts` if it is new."""
    read = read_prompt_file(path)
    if limit is not None:
        read = read.head(limit)
    if read.is_empty():
        raise ValueError(f"{path}: no prompts")
    with_ids = read.with_columns(prompt_id=prompt_id_expr(pl.col("instruction")))
    prompts = with_ids.unique("prompt_id", keep="first", maintain_order=True)
    prompt_set = xxhash.xxh3_128_hexdigest("\n".join(prompts["prompt_id"]).encode())
    rows = prompts.with_columns(prompt_set=pl.lit(prompt_set), created_at=pl.lit(datetime.now(UTC)))
    warehouse.append_part(
        "eval_prompts", rows.select(EVAL_PROMPTS.names).to_arrow().cast(EVAL_PROMPTS), prompt_set
    )
    return PromptSet(
        prompt_set=prompt_set,
        source=str(path),
        prompts=prompts.select("prompt_id", "position", "source_id", "category", "instruction", "source"),
        repeated=read.height - prompts.height,
    )
