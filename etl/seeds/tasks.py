"""Seed tasks for Self-Instruct: the `seed_tasks` table, from the Self-Instruct seed-task format
(`instruction`, `instances[{input, output}]`, `is_classification`), plain instruction/input/output
JSONL, or our embedded seed pairs (each a task with one instance and no input).

A task is its instruction: the same instruction twice is one task, whose instances are merged.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow.parquet as pq

from etl.seeds.loaders import EMBEDDED, _clean, read_records
from etl.seeds.table import SeedReport
from warehouse.connect import connect, query
from warehouse.keys import task_id
from warehouse.schemas import SEED_TASKS
from warehouse.store import Warehouse


@dataclass
class TaskLoad:
    rows: list[dict[str, Any]] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)

    def frame(self) -> pl.DataFrame:
        schema = pl.Schema(SEED_TASKS)
        return pl.from_dicts(self.rows, schema=schema) if self.rows else pl.DataFrame(schema=schema)


def _task(record: dict[str, Any]) -> tuple[str, list[dict[str, str]], bool | None, str] | str:
    """(instruction, instances, is_classification, format) of one record, or why it has none."""
    instruction = _clean(record.get("instruction"))
    if not instruction:
        return "no_instruction"
    if isinstance(record.get("instances"), list):
        instances = [
            {"input": _clean(i.get("input")), "output": _clean(i.get("output"))}
            for i in record["instances"]
            if isinstance(i, dict)
        ]
        fmt = "self_instruct"
    elif "output" in record or "response" in record:
        output = record.get("output", record.get("response"))
        instances = [{"input": _clean(record.get("input", record.get("context"))), "output": _clean(output)}]
        fmt = "jsonl"
    else:
        return "unknown_shape"
    instances = [i for i in instances if i["output"]]
    if not instances:
        return "no_instance_with_output"
    flag = record.get("is_classification")
    return instruction, instances, flag if isinstance(flag, bool) else None, fmt


def _read(records: Iterator[tuple[int, dict[str, Any] | str]], source: str, embedded: bool) -> TaskLoad:
    load = TaskLoad()
    by_id: dict[str, dict[str, Any]] = {}
    for number, record in records:
        found = record if isinstance(record, str) else _task(record)  # a bad line's status, or the task
        if isinstance(found, str):
            load.skipped[found] += 1
            continue
        instruction, instances, is_classification, fmt = found
        tid = task_id(instruction)
        if tid in by_id:  # the same task again: its instances join the first row's
            load.skipped["merged_into_earlier_task"] += 1
            known = by_id[tid]["instances"]
            known.extend(i for i in instances if i not in known)
            continue
        ref = " ".join(str(record[k]) for k in ("id", "name") if record.get(k)) or None
        by_id[tid] = row = {
            "task_id": tid,
            "instruction": instruction,
            "instances": instances,
            "is_classification": False if embedded else is_classification,  # ours are all open-ended
            "source": f"{source}:{number}",
            "source_format": EMBEDDED if embedded else fmt,
            "source_ref": ref,
        }
        load.rows.append(row)
    return load


def load_task_file(path: Path | str) -> TaskLoad:
    path = Path(path)
    return _read(read_records(path), str(path), embedded=False)


def load_embedded_tasks() -> TaskLoad:
    return _read(read_records(files("etl.seeds") / "embedded_seeds.jsonl"), EMBEDDED, embedded=True)


def add_seed_tasks(warehouse: Warehouse, paths: list[Path] | None = None) -> SeedReport:
    """Load seed-task files (none: the embedded set) into `seed_tasks`, each task once."""
    loads = {str(p): load_task_file(p) for p in paths} if paths else {EMBEDDED: load_embedded_tasks()}
    report = SeedReport()
    for name, load in loads.items():
        report.read[name] = len(load.rows)
        report.skipped.update(load.skipped)
    new = pl.concat([load.frame() for load in loads.values()]).unique(
        "task_id", keep="first", maintain_order=True
    )
    with warehouse.exclusive():
        con = connect(warehouse)
        existing = query(con, "SELECT * FROM seed_tasks")
        con.close()
        fresh = new.join(existing.select("task_id"), on="task_id", how="anti")
        report.already_present, report.added = new.height - fresh.height, fresh.height
        combined = pl.concat([existing, fresh]).sort("task_id")
        report.total = combined.height
        if fresh.height:
            warehouse.replace_table(
                "seed_tasks",
                lambda folder: pq.write_table(
                    combined.to_arrow().cast(SEED_TASKS), folder / "seed_tasks.parquet"
                ),
            )
    return report
