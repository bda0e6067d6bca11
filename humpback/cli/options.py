"""The options the commands share, and the two helpers every command uses."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from warehouse.store import Warehouse

DEFAULT_WAREHOUSE = Path("warehouse-data")

WarehouseOption = Annotated[Path, typer.Option(help="Warehouse folder.")]

ModelOption = Annotated[
    str | None, typer.Option("--model", help="A GGUF file; default: the embedded model.", show_default=False)
]
ServerOption = Annotated[
    str | None,
    typer.Option(
        "--server", help="URL of a running llama.cpp server instead of a model file.", show_default=False
    ),
]
ParallelOption = Annotated[
    int, typer.Option(help="Rows decoded together in-process, or requests in flight to a server.")
]
ThreadsOption = Annotated[int | None, typer.Option(help="CPU threads for llama.cpp; default: all cores.")]
LimitOption = Annotated[int | None, typer.Option(help="Process at most this many pending rows.")]
IterationOption = Annotated[int, typer.Option(help="The iteration the rows belong to.")]
PromptFormatOption = Annotated[
    str,
    typer.Option(
        help="few-shot: a base model shown seed examples; chat: a model fine-tuned by humpback_train; "
        "auto: chat when the warehouse's models table registers the model."
    ),
]
ProgressOption = Annotated[bool, typer.Option(help="Show the progress bar.")]
EngineOption = Annotated[
    str, typer.Option(help="local: this machine's processes; ray: Ray tasks and actors (see --address).")
]
AddressOption = Annotated[
    str | None,
    typer.Option(
        help="Ray only: the cluster to join (auto, or host:port of the head); default: a local Ray "
        "instance on 127.0.0.1.",
        show_default=False,
    ),
]
ActorsOption = Annotated[
    int | None, typer.Option(help="Ray only: model actors; default: the cluster's CPUs // --cpus-per-actor.")
]
CpusPerActorOption = Annotated[int, typer.Option(help="Ray only: CPUs (llama.cpp threads) per model actor.")]
BatchRowsOption = Annotated[int, typer.Option(help="Rows per committed batch (one Parquet file each).")]
ScoreModeOption = Annotated[
    str,
    typer.Option(
        help="calibrated: the rubric's score digits and the likelihood signals, through a calibration "
        "fitted on the seed pairs; direct: the rubric's score digits (the paper's prompt); reasoned: a "
        "reason, then Score: N."
    ),
]
LikelihoodTokensOption = Annotated[
    int,
    typer.Option(help="Calibrated mode: the answer's first tokens the likelihood signals cover (-1: all)."),
]

PresetOption = Annotated[str, typer.Option(help="Training settings: tiny | cpu | paper (README: Training).")]
BaseOption = Annotated[
    str | None,
    typer.Option(help="Base model: a GGUF file or a Hugging Face model folder; default the embedded."),
]
MaxStepsOption = Annotated[int | None, typer.Option(help="Optimiser steps; overrides the preset's epochs.")]
MethodOption = Annotated[str | None, typer.Option(help="lora | full; default the preset's.")]
MinScoreOption = Annotated[float, typer.Option("--min-score", help="k of the curated sets A_k.")]
ScoringModeOption = Annotated[
    str,
    typer.Option(
        help="The scoring mode whose A_k is used: direct | reasoned | calibrated. The loop rates with its "
        "fine-tuned models: calibrated would fit their calibration on the seeds they were trained on."
    ),
]


def fail(exc: Exception) -> typer.Exit:
    typer.echo(f"error: {exc}", err=True)
    return typer.Exit(2)


def open_warehouse(path: Path) -> Warehouse:
    from warehouse.store import Warehouse

    return Warehouse(path)
