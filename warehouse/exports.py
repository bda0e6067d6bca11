"""Training files from the warehouse: the seed set and a curated set, in chat or alpaca JSONL.

Rows carry the paper's system prompts, which tell the model where an example came from: seed rows
"Answer in the style of an AI Assistant.", augmented rows "Answer with knowledge from web search.".

Decontamination: a row is dropped when its instruction shares a run of `NGRAM` words (lowercased,
punctuation dropped) with an evaluation prompt, or contains the whole of a prompt shorter than that.
Eight words is long enough that common phrases ("what is the difference between") do not match, and
short enough that a lightly edited copy of a prompt still does.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

import sql
from warehouse.store import Warehouse
from warehouse.views import connect_views

SYSTEM_SEED = "Answer in the style of an AI Assistant."
SYSTEM_AUGMENTED = "Answer with knowledge from web search."
FORMATS = ("chat", "alpaca")
NGRAM = 8
_WORD = re.compile(r"[a-z0-9]+")
_PROMPT_FIELDS = ("instruction", "question", "prompt", "text")


@dataclass
class ExportReport:
    path: Path
    rows: int = 0
    by_source: dict[str, int] = field(default_factory=dict)
    excluded: int = 0  # rows dropped because their instruction overlaps an evaluation prompt
    excluded_examples: list[str] = field(default_factory=list)


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def _ngrams(words: list[str], n: int) -> set[tuple[str, ...]]:
    return {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}


def load_prompts(path: Path | str) -> list[str]:
    """Evaluation prompts from JSONL: an instruction, question, prompt or text field, or the first of
    `turns` (the Vicuna and MT-Bench shape)."""
    prompts = []
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}:{number}: not JSON: {exc}") from exc
        turns = record.get("turns")
        found = turns[0] if isinstance(turns, list) and turns else None
        found = found or next((record[f] for f in _PROMPT_FIELDS if isinstance(record.get(f), str)), None)
        if not found:
            raise ValueError(f"{path}:{number}: no instruction, question, prompt, text or turns field")
        prompts.append(found)
    return prompts


def overlaps(instructions: list[str], prompts: list[str], n: int = NGRAM) -> list[bool]:
    """For each instruction, whether it shares an n-word run with a prompt (or contains a short one)."""
    long_grams: set[tuple[str, ...]] = set()
    short_prompts: list[str] = []
    for prompt in prompts:
        words = _words(prompt)
        if len(words) >= n:
            long_grams |= _ngrams(words, n)
        elif words:
            short_prompts.append(" " + " ".join(words) + " ")
    flags = []
    for instruction in instructions:
        words = _words(instruction)
        joined = " " + " ".join(words) + " "
        flags.append(bool(_ngrams(words, n) & long_grams) or any(p in joined for p in short_prompts))
    return flags


def _record(row: dict[str, str], fmt: str) -> dict[str, object]:
    system = SYSTEM_SEED if row["source"] == "seed" else SYSTEM_AUGMENTED
    metadata = {"origin": row["source"], **json.loads(row["metadata"])}
    if fmt == "chat":
        messages = [
            {"role": "system", "content": system},
            {"role": "user", "content": row["instruction"]},
            {"role": "assistant", "content": row["output"]},
        ]
        return {"messages": messages, "metadata": metadata}
    return {
        "instruction": row["instruction"],
        "input": "",
        "output": row["output"],
        "system": system,
        "metadata": metadata,
    }


def export_training(
    warehouse: Warehouse | Path | str,
    out: Path,
    *,
    iteration: int = 0,
    min_score: float = 4,
    fmt: str = "chat",
    mode: str = "direct",
    exclude: Path | None = None,
) -> ExportReport:
    """Write the seed set and A_k of `iteration` (k = `min_score`) as JSONL to `out`."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    con = connect_views(warehouse)
    try:
        params = {"iteration": iteration, "k": float(min_score), "mode": mode}
        rows = pl.from_arrow(con.sql(sql.load("exports/training_pairs"), params=params).to_arrow_table())
    finally:
        con.close()
    report = ExportReport(path=out)
    if exclude is not None:
        hit = pl.Series(overlaps(rows["instruction"].to_list(), load_prompts(exclude)), dtype=pl.Boolean)
        report.excluded = int(hit.sum())
        report.excluded_examples = rows.filter(hit)["instruction"].head(5).to_list()
        rows = rows.filter(~hit)
    report.rows = rows.height
    report.by_source = dict(rows.group_by("source").len().sort("source").iter_rows())
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    with tmp.open("w", encoding="utf-8") as handle:  # metadata differs by source: one JSON object a row
        for row in rows.iter_rows(named=True):
            handle.write(json.dumps(_record(row, fmt), ensure_ascii=False) + "\n")
    tmp.replace(out)
    return report
