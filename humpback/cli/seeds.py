"""`humpback seed load` and `humpback tasks load`: the seed pairs and the Self-Instruct seed tasks."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

from humpback.cli.options import (
    DEFAULT_WAREHOUSE,
    WarehouseOption,
    fail,
)


def seed_load(
    paths: Annotated[
        list[Path] | None,
        typer.Argument(
            help="JSONL(.gz): OpenAssistant trees, Self-Instruct, dolly, or instruction/output. "
            "None: the embedded seed set."
        ),
    ] = None,
    warehouse: WarehouseOption = DEFAULT_WAREHOUSE,
) -> None:
    """Add seed pairs to the warehouse's seeds table."""
    from etl.seeds.table import add_seeds

    _load_seeds(add_seeds, paths, warehouse, "seeds", "pair")


def _load_seeds(add: Callable, paths: list[Path] | None, warehouse: Path, table: str, unit: str) -> None:
    """`seed load` and `tasks load`: add files (or the embedded set) to a seed table, then say what came."""
    from warehouse.store import Warehouse, WarehouseBusy

    missing = [str(p) for p in paths or [] if not p.exists()]
    if missing:
        raise typer.BadParameter(f"file not found: {', '.join(missing)}", param_hint="PATHS")
    try:
        report = add(Warehouse(warehouse), paths)
    except WarehouseBusy as exc:
        raise fail(exc) from exc
    read = ", ".join(f"{name}: {n:,}" for name, n in report.read.items())
    typer.echo(
        f"{table} read ({read}); added {report.added:,}, already present {report.already_present:,}, "
        f"table now {report.total:,}"
    )
    if report.skipped:
        typer.echo(
            f"lines without a {unit}: " + ", ".join(f"{k}={v:,}" for k, v in sorted(report.skipped.items()))
        )


def tasks_load(
    paths: Annotated[
        list[Path] | None,
        typer.Argument(
            help="JSONL(.gz) of Self-Instruct seed tasks (instruction, instances, is_classification) or "
            "instruction/input/output records. None: the embedded seed set."
        ),
    ] = None,
    warehouse: WarehouseOption = DEFAULT_WAREHOUSE,
) -> None:
    """Add seed tasks to the warehouse's seed_tasks table."""
    from etl.seeds.tasks import add_seed_tasks

    _load_seeds(add_seed_tasks, paths, warehouse, "seed tasks", "task")
