"""How a model is prompted: few-shot for a base model, the chat format for a model humpback_train
fine-tuned. `auto` asks the warehouse's `models` table, where every trained model is registered under
its GGUF's sha256, so a trained model is used as a plain model path."""

from __future__ import annotations

from pathlib import Path

import sql
from inference.prompts.backtranslate import PROMPT_FORMATS
from inference.prompts.chat import FORMAT
from warehouse.connect import connect, query
from warehouse.store import Warehouse


def registered_model(warehouse: Warehouse, model_id: str) -> dict[str, object] | None:
    con = connect(warehouse)
    try:
        rows = query(con, sql.load("inference/registered_model"), {"model": model_id}).to_dicts()
    finally:
        con.close()
    return rows[0] if rows else None


def trained_backward_model(warehouse: Warehouse) -> dict[str, object] | None:
    """The newest backward model trained on this warehouse whose GGUF file is still there."""
    con = connect(warehouse)
    try:
        rows = query(con, sql.load("inference/trained_backward_model")).to_dicts()
    finally:
        con.close()
    return rows[0] if rows and Path(str(rows[0]["gguf_path"])).is_file() else None


def resolve_prompt_format(requested: str, warehouse: Warehouse, model_id: str) -> str:
    """`requested` as it is, or for `auto`: chat when the model is a registered trained model."""
    if requested in PROMPT_FORMATS:
        return requested
    if requested != "auto":
        raise ValueError(f"unknown prompt format {requested!r}; choose auto, {', '.join(PROMPT_FORMATS)}")
    found = registered_model(warehouse, model_id)
    return "chat" if found and found["prompt_format"] == FORMAT else "few-shot"
