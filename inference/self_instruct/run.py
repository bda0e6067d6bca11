"""`humpback self-instruct`: grow the task pool to a target of generated tasks, classify them, write
their instances, and rebuild the `tasks` table. Every step computes only what is missing, so a
second run after a crash (or with a larger target) continues where the first stopped.

Where the rows go: generated instructions, kept or not, to `task_candidates`; decisions to
`task_classes`; instances, kept or not, to `task_instances`; the pool assembled from them to `tasks`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pyarrow.parquet as pq

import sql
from inference.engines.base import Engine
from inference.runner import StageReport
from inference.sampling import Sampling
from inference.self_instruct.classify import classify_tasks
from inference.self_instruct.generate import default_generation_sampling, generate_instructions
from inference.self_instruct.instances import default_instance_sampling, generate_instances
from warehouse.connect import connect
from warehouse.schemas import TASKS
from warehouse.store import Warehouse


@dataclass
class SelfInstructReport:
    stages: list[StageReport] = field(default_factory=list)
    seeds_loaded: int = 0  # embedded seed tasks the caller loaded because the warehouse had none
    tasks: dict[str, int] = field(default_factory=dict)  # the tasks table by origin
    with_instances: int = 0  # generated tasks with at least one instance


def rebuild_tasks(warehouse: Warehouse) -> None:
    """Write the `tasks` table afresh from the seed tasks and the Self-Instruct stage tables."""
    con = connect(warehouse)
    table = con.sql(sql.load("self_instruct/tasks")).to_arrow_table()
    con.close()
    warehouse.replace_table(
        "tasks", lambda folder: pq.write_table(table.cast(TASKS), folder / "tasks.parquet")
    )


def has_seed_tasks(warehouse: Warehouse) -> bool:
    con = connect(warehouse)
    try:
        return con.sql("SELECT count(*) FROM seed_tasks").fetchall()[0][0] > 0
    finally:
        con.close()


def self_instruct(
    warehouse: Warehouse,
    engine: Engine,
    target: int,
    *,
    seed: int = 0,
    generation_sampling: Sampling | None = None,
    instance_sampling: Sampling | None = None,
    prompts_per_round: int = 8,
    max_rounds: int | None = None,
    samples: int = 2,
    batch_rows: int = 16,
    show_progress: bool = True,
) -> SelfInstructReport:
    report = SelfInstructReport()
    if not has_seed_tasks(warehouse):
        raise ValueError("the warehouse has no seed tasks: `humpback tasks load` adds them")
    with warehouse.exclusive():
        report.stages.append(
            generate_instructions(
                warehouse,
                engine,
                target,
                sampling=generation_sampling or default_generation_sampling(seed),
                prompts_per_round=prompts_per_round,
                chunk_rows=batch_rows,
                max_rounds=max_rounds,
                show_progress=show_progress,
            )
        )
        report.stages.append(
            classify_tasks(warehouse, engine, batch_rows=batch_rows, show_progress=show_progress)
        )
        report.stages.append(
            generate_instances(
                warehouse,
                engine,
                samples=samples,
                sampling=instance_sampling or default_instance_sampling(seed),
                batch_rows=batch_rows,
                show_progress=show_progress,
            )
        )
        rebuild_tasks(warehouse)
        con = connect(warehouse)
        report.tasks = dict(
            con.sql("SELECT origin, count(*) FROM tasks GROUP BY ALL ORDER BY ALL").fetchall()
        )
        report.with_instances = con.sql(
            "SELECT count(*) FROM tasks WHERE origin = 'generated' AND len(instances) > 0"
        ).fetchall()[0][0]
        con.close()
    return report
