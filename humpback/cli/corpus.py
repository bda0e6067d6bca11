"""`humpback etl`: a corpus dump becomes documents, segments and rejects."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from etl.settings import load_settings
from humpback.cli.options import (
    DEFAULT_WAREHOUSE,
    AddressOption,
    EngineOption,
)


def etl(
    inputs: Annotated[
        list[Path], typer.Argument(help="WARC files, folders of .html/.htm(.gz), JSONL(.gz) or Parquet.")
    ],
    warehouse: Annotated[
        Path, typer.Option(help="Warehouse folder for the Parquet tables.")
    ] = DEFAULT_WAREHOUSE,
    workers: Annotated[
        int, typer.Option(help="Worker processes (ray: CPUs of the local Ray instance); 0 means all cores.")
    ] = 0,
    engine: EngineOption = "local",
    address: AddressOption = None,
    config: Annotated[
        Path | None, typer.Option(help="TOML file of settings (sections as in etl/settings.py).")
    ] = None,
    set_: Annotated[
        list[str] | None, typer.Option("--set", help="Override a setting: section.key=value.")
    ] = None,
    progress: Annotated[bool, typer.Option(help="Show the progress bar.")] = True,
) -> None:
    """Read, extract, segment, deduplicate and filter a corpus into documents, segments and rejects."""
    if engine not in ("local", "ray"):
        raise typer.BadParameter("choose local or ray", param_hint="--engine")
    if address and engine != "ray":
        raise typer.BadParameter("--address needs --engine ray", param_hint="--address")
    if engine == "local":
        from etl.processes import fork_server

        fork_server()  # first: the workers' imports then overlap with ours
    from etl.pipeline import run_etl
    from etl.summary import format_summary

    try:
        settings = load_settings(config, set_ or [])
    except (ValueError, OSError) as exc:
        raise typer.BadParameter(str(exc)) from exc
    missing = [str(path) for path in inputs if not path.exists()]
    if missing:
        raise typer.BadParameter(f"input not found: {', '.join(missing)}", param_hint="INPUTS")
    from warehouse.store import WarehouseBusy

    try:
        report = run_etl(
            inputs,
            warehouse,
            settings,
            workers=workers or None,
            show_progress=progress,
            engine=engine,
            address=address,
        )
    except WarehouseBusy as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    typer.echo(format_summary(report, str(warehouse)))
