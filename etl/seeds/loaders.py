"""Seed (instruction, output) pairs from the files people have: OpenAssistant trees, Self-Instruct
seed tasks, dolly records, plain instruction/output JSONL, and our own embedded set.

Each line's shape decides how it is read, so one file may mix shapes. A line that yields no pair is
counted with a reason instead of being dropped silently.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow.parquet as pq
import xxhash

from common.jsonl import OK, read_lines
from warehouse.schemas import SEEDS

EMBEDDED = "embedded"
# dolly exports sometimes keep the training template's end marker.
_TRAILING_MARKERS = ("###eos_token###", "</s>", "<|endoftext|>")


@dataclass
class SeedLoad:
    """The pairs read from one source, and why the other lines gave none."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)

    def frame(self) -> pl.DataFrame:
        return (
            pl.from_dicts(self.rows, schema=pl.Schema(SEEDS))
            if self.rows
            else pl.DataFrame(schema=pl.Schema(SEEDS))
        )


def seed_id(instruction: str, output: str) -> str:
    return xxhash.xxh3_128_hexdigest(f"{instruction}\x00{output}".encode())


def _clean(text: Any) -> str:
    text = text if isinstance(text, str) else ""
    text = text.strip()
    for marker in _TRAILING_MARKERS:
        if text.endswith(marker):
            text = text[: -len(marker)].rstrip()
    return text


def _with_input(instruction: str, extra: str) -> str:
    """Self-Instruct's input and dolly's context become part of the instruction, after a blank line."""
    return f"{instruction}\n\n{extra}" if extra else instruction


def _oasst(tree: dict[str, Any], lang: str) -> tuple[list[tuple[str, str, str, str]], str | None]:
    """The first turn of a conversation tree and its rank-0 assistant reply, as the paper took them."""
    prompt = tree["prompt"]
    if prompt.get("lang") != lang:
        return [], f"oasst_lang_{prompt.get('lang')}"
    if prompt.get("deleted") or prompt.get("review_result") is False:
        return [], "oasst_prompt_not_approved"
    replies = [
        r
        for r in prompt.get("replies") or []
        if r.get("role") == "assistant" and r.get("rank") == 0 and not r.get("deleted")
    ]
    if not replies:
        return [], "oasst_no_rank0_reply"
    reply = replies[0]
    if reply.get("lang", lang) != lang:
        return [], f"oasst_lang_{reply.get('lang')}"
    ref = f"{tree.get('message_tree_id', prompt.get('message_id'))}/{reply.get('message_id')}"
    return [(_clean(prompt.get("text")), _clean(reply.get("text")), "oasst", ref)], None


def _pairs(record: dict[str, Any], lang: str) -> tuple[list[tuple[str, str, str, str]], str | None]:
    """(instruction, output, format, reference) pairs of one JSON record, or the reason for none."""
    if isinstance(record.get("prompt"), dict) and "replies" in record["prompt"]:
        return _oasst(record, lang)
    if "instances" in record and "instruction" in record:  # Self-Instruct seed task
        pairs = [
            (
                _with_input(_clean(record["instruction"]), _clean(inst.get("input"))),
                _clean(inst.get("output")),
                "self_instruct",
                f"{record.get('id', '')}#{i}",
            )
            for i, inst in enumerate(record["instances"] or [])
        ]
        return pairs, None if pairs else "no_instances"
    if "instruction" in record and "response" in record:  # dolly
        instruction = _with_input(_clean(record["instruction"]), _clean(record.get("context")))
        return [(instruction, _clean(record["response"]), "dolly", "")], None
    if "instruction" in record and "output" in record:  # plain, or alpaca with an input field
        instruction = _with_input(_clean(record["instruction"]), _clean(record.get("input")))
        return [(instruction, _clean(record["output"]), "jsonl", "")], None
    return [], "unknown_shape"


def read_records(path: Path | Traversable) -> Iterator[tuple[int, dict[str, Any] | str]]:
    """(line number, or row number in a Parquet file, from 1; the record) of every non-blank line or
    row. A bad line gives its status instead of a record (`common/jsonl.py`: invalid_json,
    not_an_object)."""
    if path.name.lower().endswith(".parquet"):
        number = 0
        for batch in pq.ParquetFile(path).iter_batches(batch_size=4096):
            for record in batch.to_pylist():
                number += 1
                yield number, record
        return
    for line in read_lines(path):
        yield line.number, line.record if line.status == OK else line.status


def _read(
    records: Iterator[tuple[int, dict[str, Any] | str]], source: str, lang: str, embedded: bool
) -> SeedLoad:
    load = SeedLoad()
    seen: set[str] = set()
    for number, record in records:
        if isinstance(record, str):  # a bad line's status
            load.skipped[record] += 1
            continue
        pairs, reason = _pairs(record, lang)
        if reason:
            load.skipped[reason] += 1
        for instruction, output, fmt, ref in pairs:
            if not instruction or not output:
                load.skipped["empty_instruction_or_output"] += 1
                continue
            sid = seed_id(instruction, output)
            if sid in seen:
                load.skipped["duplicate"] += 1
                continue
            seen.add(sid)
            load.rows.append(
                {
                    "seed_id": sid,
                    "instruction": instruction,
                    "output": output,
                    "source": f"{source}:{number}",
                    "source_format": EMBEDDED if embedded else fmt,
                    "source_ref": ref or None,
                    "category": record.get("category"),
                }
            )
    return load


def load_seed_file(path: Path | str, lang: str = "en") -> SeedLoad:
    """Pairs from a JSONL(.gz) or Parquet file of any of the supported shapes. The embedded seed set's
    own file, named by its path (as `make etl`'s SEEDS does), keeps its provenance: `embedded`."""
    path = Path(path)
    if path.resolve() == Path(str(files(__package__) / "embedded_seeds.jsonl")).resolve():
        return load_embedded_seeds()
    return _read(read_records(path), str(path), lang, embedded=False)


def load_embedded_seeds() -> SeedLoad:
    """Our own seed set, shipped with the package."""
    return _read(read_records(files(__package__) / "embedded_seeds.jsonl"), EMBEDDED, "en", embedded=True)


# One row per pair a file gives, and one per record that gives none, for `humpback score`.
PAIR_ROWS = {
    "line": pl.Int64,  # line of the JSONL file, or row of the Parquet file, from 1
    "item": pl.Int32,  # the pair's place among the record's pairs (Self-Instruct instances), from 0
    "id": pl.String,  # the record's `id` field as JSON text, or null
    "instruction": pl.String,
    "output": pl.String,
    "status": pl.String,  # ok, or why the record gave no pair to score
}


def read_pair_rows(path: Path | str, lang: str = "en") -> pl.DataFrame:
    """Every record of a JSONL(.gz) or Parquet file of a supported shape as rows to score: one per pair
    (status `ok`, or `empty_instruction` / `empty_output`), and one per record that gives none, with
    the reason as its status (`invalid_json`, `not_an_object`, `unknown_shape`, `oasst_no_rank0_reply`...)."""
    rows: list[dict[str, Any]] = []
    for number, record in read_records(Path(path)):
        if isinstance(record, str):  # a bad line's status
            rows.append(
                {"line": number, "item": 0, "id": None, "instruction": None, "output": None, "status": record}
            )
            continue
        ident = json.dumps(record["id"], ensure_ascii=False) if record.get("id") is not None else None
        pairs, reason = _pairs(record, lang)
        if not pairs:
            rows.append(
                {
                    "line": number,
                    "item": 0,
                    "id": ident,
                    "instruction": None,
                    "output": None,
                    "status": reason,
                }
            )
        for item, (instruction, output, _, _) in enumerate(pairs):
            status = "empty_instruction" if not instruction else "empty_output" if not output else "ok"
            rows.append(
                {
                    "line": number,
                    "item": item,
                    "id": ident,
                    "instruction": instruction,
                    "output": output,
                    "status": status,
                }
            )
    return pl.DataFrame(rows, schema=PAIR_ROWS)


def load_oasst_ranked(path: Path | str, lang: str = "en") -> pl.DataFrame:
    """The first turn of each OpenAssistant tree with its best and its worst assistant reply, by the
    reviewers' rank (0 is best), where the turn has at least two ranked replies in `lang`.

    Columns: pair_id (the seed id of the prompt and its rank-0 reply), instruction, best, worst,
    worst_rank, source (file:line). Trees are read as by `load_seed_file`; other lines are passed over.
    """
    path = Path(path)
    rows = []
    for number, tree in read_records(path):
        prompt = tree.get("prompt") if isinstance(tree, dict) else None
        if not isinstance(prompt, dict) or prompt.get("lang") != lang:
            continue
        ranked = sorted(
            (
                r
                for r in prompt.get("replies") or []
                if r.get("role") == "assistant"
                and isinstance(r.get("rank"), int)
                and not r.get("deleted")
                and r.get("lang", lang) == lang
            ),
            key=lambda r: r["rank"],
        )
        if len(ranked) < 2 or ranked[0]["rank"] != 0:
            continue
        instruction, best, worst = (
            _clean(t) for t in (prompt.get("text"), ranked[0]["text"], ranked[-1]["text"])
        )
        if instruction and best and worst:
            rows.append(
                {
                    "pair_id": seed_id(instruction, best),
                    "instruction": instruction,
                    "best": best,
                    "worst": worst,
                    "worst_rank": ranked[-1]["rank"],
                    "source": f"{path}:{number}",
                }
            )
    schema = {
        "pair_id": pl.String,
        "instruction": pl.String,
        "best": pl.String,
        "worst": pl.String,
        "worst_rank": pl.Int32,
        "source": pl.String,
    }
    return pl.DataFrame(rows, schema=schema)
