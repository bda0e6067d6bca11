"""`humpback eval`: pairwise evaluation of two models by a judge."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from humpback.cli.options import (
    DEFAULT_WAREHOUSE,
    ActorsOption,
    AddressOption,
    BatchRowsOption,
    CpusPerActorOption,
    EngineOption,
    ParallelOption,
    ProgressOption,
    PromptFormatOption,
    ThreadsOption,
    WarehouseOption,
    fail,
    open_warehouse,
)
from humpback.cli.stage_engine import StageEngine

if TYPE_CHECKING:  # imported lazily at run time, so `humpback --help` stays quick
    from inference.engines.base import Engine


def eval_command(
    prompts: Annotated[
        Path, typer.Option(help="JSONL prompts: instruction, question, prompt or text, or turns (Vicuna).")
    ],
    warehouse: WarehouseOption = DEFAULT_WAREHOUSE,
    model_a: Annotated[
        str | None, typer.Option(help="Side A's GGUF file; default: the embedded model.", show_default=False)
    ] = None,
    model_b: Annotated[str | None, typer.Option(help="Side B's GGUF file.", show_default=False)] = None,
    server_a: Annotated[
        str | None, typer.Option(help="Side A's llama.cpp server URL.", show_default=False)
    ] = None,
    server_b: Annotated[
        str | None, typer.Option(help="Side B's llama.cpp server URL.", show_default=False)
    ] = None,
    answers_a: Annotated[
        Path | None,
        typer.Option(help="Side A's precomputed answers (JSONL) instead of a model.", show_default=False),
    ] = None,
    answers_b: Annotated[
        Path | None, typer.Option(help="Side B's precomputed answers.", show_default=False)
    ] = None,
    seed_a: Annotated[int, typer.Option(help="Side A's sampling seed.")] = 0,
    seed_b: Annotated[
        int, typer.Option(help="Side B's sampling seed (a model against itself: another seed).")
    ] = 0,
    judge: Annotated[
        str | None, typer.Option(help="The judge's GGUF file; default: the embedded model.")
    ] = None,
    judge_server: Annotated[str | None, typer.Option(help="A llama.cpp server as the judge.")] = None,
    judge_format: PromptFormatOption = "auto",
    system: Annotated[
        str, typer.Option(help="The system prompt the sides answer under: seed | web | combined | none.")
    ] = "combined",
    temperature: Annotated[float, typer.Option(help="Answer sampling temperature (0: greedy).")] = 0.7,
    top_p: Annotated[float, typer.Option(help="Answer sampling nucleus.")] = 0.9,
    max_new_tokens: Annotated[int, typer.Option(help="Longest answer, in tokens.")] = 384,
    limit: Annotated[int | None, typer.Option(help="Use only the first N prompts of the file.")] = None,
    parallel: ParallelOption = 4,
    threads: ThreadsOption = None,
    batch_rows: BatchRowsOption = 8,
    progress: ProgressOption = True,
    engine: EngineOption = "local",
    address: AddressOption = None,
    actors: ActorsOption = None,
    cpus_per_actor: CpusPerActorOption = 2,
) -> None:
    """Pairwise evaluation: both sides answer the prompts, a judge compares every pair in both orders."""
    from inference.eval.run import Side, evaluate
    from inference.sampling import Sampling
    from inference.summary import format_eval
    from warehouse.store import WarehouseBusy

    if not prompts.is_file():
        raise typer.BadParameter(f"not found: {prompts}", param_hint="--prompts")
    sides = []
    for name, model, server, answers, seed in (
        ("a", model_a, server_a, answers_a, seed_a),
        ("b", model_b, server_b, answers_b, seed_b),
    ):
        if answers is not None and (model or server):
            raise typer.BadParameter(
                "give a model, a server or an answers file", param_hint=f"--answers-{name}"
            )
        if answers is not None and not answers.is_file():
            raise typer.BadParameter(f"not found: {answers}", param_hint=f"--answers-{name}")
        sides.append(Side(model=model, server=server, answers=answers, seed=seed))

    def open_model(model: str | None, server: str | None) -> Engine:
        return StageEngine(model, server, parallel, threads, engine, address, actors, cpus_per_actor).open()

    sampling = Sampling(temperature=temperature, top_p=top_p, max_new_tokens=max_new_tokens)
    try:
        report = evaluate(
            open_warehouse(warehouse),
            prompts,
            sides[0],
            sides[1],
            open_model,
            judge_model=judge,
            judge_server=judge_server,
            judge_format=judge_format,
            system=system,
            sampling=sampling,
            limit=limit,
            batch_rows=batch_rows,
            show_progress=progress,
        )
    except (OSError, ValueError, RuntimeError, WarehouseBusy) as exc:
        raise fail(exc) from exc
    typer.echo(format_eval(report))


def likelihood_command(
    pairs: Annotated[
        Path,
        typer.Argument(
            help="Held-out pairs, JSONL(.gz) or Parquet, in any shape `humpback score` reads.",
        ),
    ],
    model: Annotated[
        list[str] | None,
        typer.Option(
            help="A GGUF file to measure; repeatable, the first is the reference of the differences. "
            "Default: the embedded model.",
            show_default=False,
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(help="Write the models and every pair's values as JSON.", show_default=False),
    ] = None,
    system: Annotated[
        str, typer.Option(help="The system prompt of the chat format: seed | web | combined | none.")
    ] = "combined",
    max_output_tokens: Annotated[
        int, typer.Option(help="Score at most this many tokens of an output.")
    ] = 256,
    threads: ThreadsOption = None,
    batch_rows: BatchRowsOption = 16,
    progress: ProgressOption = True,
) -> None:
    """Mean log-likelihood per token of reference outputs under each model, in the chat format the engine
    fine-tunes: one prefill per pair, no sampling; a killed run with --out resumes."""
    import shutil
    import tempfile

    from etl.seeds.loaders import read_pair_rows
    from inference.likelihood import LikelihoodPrompt, compare_models, work_dir, write_json
    from inference.summary import format_likelihood
    from warehouse.store import Warehouse, WarehouseBusy

    if not pairs.is_file():
        raise typer.BadParameter(f"file not found: {pairs}")
    models = model or [None]
    missing = [m for m in models if m is not None and not Path(m).is_file()]
    if missing:
        raise typer.BadParameter(f"file not found: {', '.join(missing)}", param_hint="--model")
    try:
        prompt = LikelihoodPrompt.build(system, max_output_tokens)
        rows = read_pair_rows(pairs)
    except (OSError, ValueError) as exc:
        raise fail(exc) from exc
    work = work_dir(out) if out else Path(tempfile.mkdtemp(prefix="humpback-likelihood-"))

    def open_model(name: str) -> Engine:
        return StageEngine(None if name == "embedded" else name, None, 1, threads).open()

    names = [m or "embedded" for m in models]
    try:
        comparison = compare_models(
            rows, names, open_model, Warehouse(work), prompt, batch_rows=batch_rows, show_progress=progress
        )
    except (OSError, ValueError, RuntimeError, WarehouseBusy) as exc:
        raise fail(exc) from exc
    if out:
        write_json(comparison, out)
    shutil.rmtree(work, ignore_errors=True)  # the output holds every value
    typer.echo(format_likelihood(comparison))
    if out:
        typer.echo(f"wrote {out}")
