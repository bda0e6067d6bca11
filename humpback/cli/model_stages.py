"""The model stages over the warehouse: `self-instruct`, `augment`, `curate`, and `score` over any file."""

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
    IterationOption,
    LikelihoodTokensOption,
    LimitOption,
    ModelOption,
    ParallelOption,
    ProgressOption,
    PromptFormatOption,
    ScoreModeOption,
    ServerOption,
    ThreadsOption,
    WarehouseOption,
    fail,
    open_warehouse,
)
from humpback.cli.stage_engine import StageEngine, run_model_stage

if TYPE_CHECKING:  # imported lazily at run time, so `humpback --help` stays quick
    from inference.engines.base import Engine
    from inference.runner import StageReport


def self_instruct_command(
    target: Annotated[int, typer.Option(help="Grow the pool to this many generated tasks.")],
    warehouse: WarehouseOption = DEFAULT_WAREHOUSE,
    model: ModelOption = None,
    server: ServerOption = None,
    seed: Annotated[int, typer.Option(help="Run seed: the prompts' instructions and every sample.")] = 0,
    prompts_per_round: Annotated[int, typer.Option(help="Generation prompts per round.")] = 8,
    max_rounds: Annotated[
        int | None, typer.Option(help="Stop after this many rounds, even short of --target.")
    ] = None,
    samples: Annotated[int, typer.Option(help="Instances sampled per generated task.")] = 2,
    parallel: ParallelOption = 8,
    threads: ThreadsOption = None,
    batch_rows: BatchRowsOption = 16,
    progress: ProgressOption = True,
    engine: EngineOption = "local",
    address: AddressOption = None,
    actors: ActorsOption = None,
    cpus_per_actor: CpusPerActorOption = 2,
) -> None:
    """Self-Instruct: new tasks from the pool (ROUGE-L novelty filter), their classification and instances.

    Without seed tasks in the warehouse, the embedded seed set is loaded first (humpback tasks load)."""
    from etl.seeds.tasks import add_seed_tasks
    from inference.self_instruct.run import has_seed_tasks, self_instruct
    from inference.summary import format_self_instruct

    if target < 1:
        raise typer.BadParameter("give a positive number", param_hint="--target")
    store = open_warehouse(warehouse)
    where = StageEngine(model, server, parallel, threads, engine, address, actors, cpus_per_actor)
    try:
        seeds_loaded = 0 if has_seed_tasks(store) else add_seed_tasks(store).added
        opened = where.open()
    except (OSError, ValueError, RuntimeError) as exc:
        raise fail(exc) from exc
    try:
        report = self_instruct(
            store,
            opened,
            target,
            seed=seed,
            prompts_per_round=prompts_per_round,
            max_rounds=max_rounds,
            samples=samples,
            batch_rows=batch_rows,
            show_progress=progress,
        )
    except (ValueError, RuntimeError) as exc:
        raise fail(exc) from exc
    finally:
        opened.close()
    report.seeds_loaded = seeds_loaded
    typer.echo(format_self_instruct(report))


def augment(
    warehouse: WarehouseOption = DEFAULT_WAREHOUSE,
    model: ModelOption = None,
    server: ServerOption = None,
    limit: LimitOption = None,
    iteration: IterationOption = 0,
    seed: Annotated[int, typer.Option(help="Run seed; each row's sampling seed derives from it.")] = 0,
    temperature: Annotated[float, typer.Option(help="Sampling temperature (the paper: 0.7).")] = 0.7,
    top_p: Annotated[float, typer.Option(help="Nucleus sampling mass (the paper: 0.9).")] = 0.9,
    max_new_tokens: Annotated[int, typer.Option(help="Token limit of one instruction.")] = 64,
    examples: Annotated[int, typer.Option(help="Seed pairs shown in the few-shot prompt.")] = 3,
    prompt_format: PromptFormatOption = "auto",
    candidates: Annotated[
        int | None,
        typer.Option(
            help="Draws per segment; the one its text is likeliest under is kept. Default: 4, 1 through "
            "--server."
        ),
    ] = None,
    attempts: Annotated[
        int | None, typer.Option(help="Rounds of draws for a segment whose draws all failed.")
    ] = None,
    questions_only: Annotated[
        bool,
        typer.Option(
            "--questions-only/--any-form",
            help="Keep only self-contained questions (a small backward model's statements and commands "
            "seldom match their segment), or any request (a large model's).",
        ),
    ] = True,
    floor: Annotated[
        float | None,
        typer.Option(
            help="The choice score (gain + coverage) a segment's best draw needs, or it gets no pair "
            "(not_answered). Default: 1.0 for a fine-tuned backward model, none for few-shot."
        ),
    ] = None,
    no_floor: Annotated[
        bool, typer.Option("--no-floor", help="Keep every segment's best draw, however low.")
    ] = False,
    trained: Annotated[
        bool,
        typer.Option(
            "--trained/--base",
            help="Without --model or --server: use the warehouse's trained backward model if it has one "
            "(--trained), or the base model prompted few-shot (--base).",
        ),
    ] = True,
    parallel: ParallelOption = 8,
    threads: ThreadsOption = None,
    batch_rows: BatchRowsOption = 32,
    progress: ProgressOption = True,
    engine: EngineOption = "local",
    address: AddressOption = None,
    actors: ActorsOption = None,
    cpus_per_actor: CpusPerActorOption = 2,
) -> None:
    """Self-augmentation: write an instruction for every kept segment (the backward model)."""
    from inference.augment import augment as run_augment
    from inference.augment import choose_drawing
    from inference.formats import resolve_prompt_format, trained_backward_model
    from inference.sampling import Sampling

    if floor is not None and no_floor:
        raise typer.BadParameter("give --floor or --no-floor, not both")
    sampling = Sampling(temperature=temperature, top_p=top_p, seed=seed, max_new_tokens=max_new_tokens)
    store = open_warehouse(warehouse)
    if model is None and server is None and trained:
        found = trained_backward_model(store)
        if found is not None:
            model = str(found["gguf_path"])
            typer.echo(f"augment: the warehouse's trained backward model {found['name']} ({model})")
        else:
            typer.echo(
                "augment: the base model prompted few-shot (the warehouse has no trained backward model; "
                "`humpback train --role backward` makes one)"
            )

    def run(opened: Engine) -> StageReport:
        chosen = resolve_prompt_format(prompt_format, store, opened.model_id)
        drawing = choose_drawing(
            chosen,
            served=server is not None,
            candidates=candidates,
            attempts=attempts,
            questions_only=questions_only,
            floor=floor,
            no_floor=no_floor,
        )
        return run_augment(
            store,
            opened,
            iteration=iteration,
            prompt_format=chosen,
            sampling=sampling,
            drawing=drawing,
            n_examples=examples,
            limit=limit,
            batch_rows=batch_rows,
            show_progress=progress,
        )

    run_model_stage(
        StageEngine(model, server, parallel, threads, engine, address, actors, cpus_per_actor), run
    )


def curate(
    warehouse: WarehouseOption = DEFAULT_WAREHOUSE,
    mode: ScoreModeOption = "calibrated",
    model: ModelOption = None,
    server: ServerOption = None,
    limit: LimitOption = None,
    iteration: IterationOption = 0,
    augment_iteration: Annotated[
        int | None, typer.Option(help="Rate the instructions of this iteration; default --iteration.")
    ] = None,
    prompt_format: PromptFormatOption = "auto",
    system: Annotated[
        str, typer.Option(help="Chat format only: the system prompt, seed | web | combined | none.")
    ] = "seed",
    likelihood_tokens: LikelihoodTokensOption = 16,
    parallel: ParallelOption = 8,
    threads: ThreadsOption = None,
    batch_rows: BatchRowsOption = 32,
    progress: ProgressOption = True,
    engine: EngineOption = "local",
    address: AddressOption = None,
    actors: ActorsOption = None,
    cpus_per_actor: CpusPerActorOption = 2,
    pairs: Annotated[
        str,
        typer.Option(
            help="backtranslated: the (instruction, segment) pairs; self-instruct: the generated tasks' "
            "instances (table task_scores)."
        ),
    ] = "backtranslated",
) -> None:
    """Self-curation: rate every (instruction, segment) pair on the 5-point scale."""
    from inference.curate import PAIRS
    from inference.curate import curate as run_curate
    from inference.curation.rater import MODES
    from inference.formats import resolve_prompt_format

    if mode not in MODES:
        raise typer.BadParameter(f"choose one of {', '.join(MODES)}", param_hint="--mode")
    if pairs not in PAIRS:
        raise typer.BadParameter(f"choose one of {', '.join(PAIRS)}", param_hint="--pairs")
    store = open_warehouse(warehouse)
    run_model_stage(
        StageEngine(model, server, parallel, threads, engine, address, actors, cpus_per_actor),
        lambda opened: run_curate(
            store,
            opened,
            mode=mode,
            iteration=iteration,
            augment_iteration=augment_iteration,
            prompt_format=resolve_prompt_format(prompt_format, store, opened.model_id),
            system=system,
            likelihood_tokens=likelihood_tokens,
            limit=limit,
            batch_rows=batch_rows,
            show_progress=progress,
            pairs=pairs,
        ),
    )


def score(
    pairs: Annotated[
        Path,
        typer.Argument(
            help="JSONL(.gz) or Parquet of instruction pairs in any shape `seed load` reads: "
            "instruction/output (alpaca input too), dolly, Self-Instruct, OpenAssistant trees."
        ),
    ],
    out: Annotated[Path, typer.Option(help="Where to write every row with its score: .jsonl or .parquet.")],
    mode: ScoreModeOption = "calibrated",
    model: ModelOption = None,
    server: ServerOption = None,
    seeds: Annotated[
        list[Path] | None,
        typer.Option(
            help="Seed pairs (any shape `seed load` reads) that calibrate the calibrated mode; repeatable. "
            "Default: the embedded seed set.",
            show_default=False,
        ),
    ] = None,
    likelihood_tokens: LikelihoodTokensOption = 16,
    parallel: ParallelOption = 8,
    threads: ThreadsOption = None,
    batch_rows: BatchRowsOption = 32,
    progress: ProgressOption = True,
    engine: EngineOption = "local",
    address: AddressOption = None,
    actors: ActorsOption = None,
    cpus_per_actor: CpusPerActorOption = 2,
) -> None:
    """Score any instruction dataset into one file; a killed run resumes where it stopped."""
    import polars as pl

    from etl.seeds.loaders import load_embedded_seeds, load_seed_file, read_pair_rows
    from inference.curation.rater import MODES
    from inference.score import OUTPUT_FORMATS, score_file
    from inference.summary import format_score

    if mode not in MODES:
        raise typer.BadParameter(f"choose one of {', '.join(MODES)}", param_hint="--mode")
    if out.suffix not in OUTPUT_FORMATS:
        raise typer.BadParameter(f"end it in {' or '.join(OUTPUT_FORMATS)}", param_hint="--out")
    missing = [str(p) for p in [pairs, *(seeds or [])] if not p.is_file()]
    if missing:
        raise typer.BadParameter(f"file not found: {', '.join(missing)}")
    try:
        rows = read_pair_rows(pairs)
    except (OSError, ValueError) as exc:  # an unreadable file (a broken Parquet footer, a bad gzip stream)
        raise fail(exc) from exc
    loads = [load_seed_file(p) for p in seeds] if seeds else [load_embedded_seeds()]
    seed_pairs = pl.concat([load.frame() for load in loads]).unique("seed_id", keep="first")
    run_model_stage(
        StageEngine(model, server, parallel, threads, engine, address, actors, cpus_per_actor),
        lambda opened: score_file(
            rows,
            out,
            opened,
            seeds=seed_pairs,
            mode=mode,
            likelihood_tokens=likelihood_tokens,
            batch_rows=batch_rows,
            show_progress=progress,
        ),
        format_score,
    )
