"""`humpback train` and `humpback iterate`: the training package's commands."""

from __future__ import annotations

from typing import Annotated

import typer

from humpback.cli.options import (
    DEFAULT_WAREHOUSE,
    ActorsOption,
    AddressOption,
    BaseOption,
    BatchRowsOption,
    CpusPerActorOption,
    EngineOption,
    MaxStepsOption,
    MethodOption,
    MinScoreOption,
    ParallelOption,
    PresetOption,
    ProgressOption,
    ScoringModeOption,
    ThreadsOption,
    WarehouseOption,
    fail,
    open_warehouse,
)
from humpback.cli.stage_engine import StageEngine


def _training():
    try:
        import humpback_train.iterate
        import humpback_train.settings
        import humpback_train.summary
        import humpback_train.train
    except ImportError as exc:
        typer.echo(
            f"error: the training package is not installed ({exc.name}): run `make iterate`, or "
            "`pip install torch==2.13.0 -e training` (README: Training)",
            err=True,
        )
        raise typer.Exit(2) from exc
    return humpback_train


def train(
    role: Annotated[str, typer.Option(help="backward: p(instruction | output) on the seeds; forward: M_t.")],
    warehouse: WarehouseOption = DEFAULT_WAREHOUSE,
    iteration: Annotated[int, typer.Option(help="Forward: t of M_t, trained on seeds + A_k of t - 1.")] = 0,
    min_score: MinScoreOption = 4,
    mode: ScoringModeOption = "calibrated",
    preset: PresetOption = "cpu",
    base: BaseOption = None,
    method: MethodOption = None,
    max_steps: MaxStepsOption = None,
    progress: ProgressOption = True,
) -> None:
    """Fine-tune one model on the warehouse, export it as GGUF and register it in the models table."""
    package = _training()
    try:
        settings = package.settings.preset(preset).with_overrides(method=method, max_steps=max_steps)
        row = package.train.train_model(
            open_warehouse(warehouse),
            role,
            iteration,
            settings=settings,
            base=base,
            k=min_score,
            mode=mode,
            show_progress=progress,
        )
    except (OSError, ValueError, RuntimeError) as exc:
        raise fail(exc) from exc
    typer.echo(package.summary.format_model(row))


def iterate(
    warehouse: WarehouseOption = DEFAULT_WAREHOUSE,
    iterations: Annotated[
        int, typer.Option(help="Rounds of curation: M0 gives A^(1), M1 gives A^(2)...")
    ] = 2,
    min_score: MinScoreOption = 4,
    mode: ScoringModeOption = "direct",
    system: Annotated[
        str, typer.Option(help="System prompt when rating: seed | web | combined | none.")
    ] = "seed",
    preset: PresetOption = "cpu",
    base: BaseOption = None,
    method: MethodOption = None,
    max_steps: MaxStepsOption = None,
    sample: Annotated[
        int | None, typer.Option(help="Augment only the first N kept segments (by id): a fixed subset.")
    ] = None,
    parallel: ParallelOption = 8,
    threads: ThreadsOption = None,
    batch_rows: BatchRowsOption = 32,
    progress: ProgressOption = True,
    engine: EngineOption = "local",
    address: AddressOption = None,
    actors: ActorsOption = None,
    cpus_per_actor: CpusPerActorOption = 2,
) -> None:
    """The Humpback loop: train M_yx and augment; train M0 and curate; train M_t on seeds + A^(t), rescore.

    Training runs here; augmentation and curation run on --engine, each on the model trained for it.

    With --address, every node must read the warehouse's model_files folder (the trained GGUF files)."""
    from dataclasses import replace

    # checked before training, which takes minutes, not when the first model stage opens its engine
    if engine not in ("local", "ray"):
        raise typer.BadParameter("choose local or ray", param_hint="--engine")
    if address and engine != "ray":
        raise typer.BadParameter("--address needs --engine ray", param_hint="--address")
    package = _training()
    where = StageEngine(
        None, None, parallel, threads, engine, address, actors, cpus_per_actor, n_ctx=package.iterate.N_CTX
    )
    try:
        settings = package.settings.preset(preset).with_overrides(method=method, max_steps=max_steps)
        report = package.iterate.iterate(
            open_warehouse(warehouse),
            iterations,
            settings=settings,
            base=base,
            k=min_score,
            mode=mode,
            system=system,
            sample=sample,
            batch_rows=batch_rows,
            show_progress=progress,
            log=typer.echo,
            open_model=lambda model_path: replace(where, model=model_path).open(),
        )
    except (OSError, ValueError, RuntimeError) as exc:
        raise fail(exc) from exc
    typer.echo(package.summary.format_iterate(report))
