"""`humpback`: the command line, a thin layer over the library functions."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from etl.settings import load_settings

if TYPE_CHECKING:  # imported lazily at run time, so `humpback --help` stays quick
    from inference.engines.base import Engine
    from inference.runner import StageReport
    from warehouse.store import Warehouse

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Instruction backtranslation data engine.")

DEFAULT_WAREHOUSE = Path("warehouse-data")


@app.callback()
def main() -> None:
    """Instruction backtranslation (Humpback) data engine."""


@app.command()
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


seed_app = typer.Typer(no_args_is_help=True, help="The seed (instruction, output) pairs.")
app.add_typer(seed_app, name="seed")

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


def _fail(exc: Exception) -> typer.Exit:
    typer.echo(f"error: {exc}", err=True)
    return typer.Exit(2)


def _warehouse(path: Path) -> Warehouse:
    from warehouse.store import Warehouse

    return Warehouse(path)


@dataclass(frozen=True)
class StageEngine:
    """Where a model stage runs: the CLI's model, server, engine and sizing options."""

    model: str | None
    server: str | None
    parallel: int
    threads: int | None
    engine: str = "local"
    address: str | None = None
    actors: int | None = None
    cpus_per_actor: int = 2
    n_ctx: int = 16384  # the engines' default; iterate's short chat prompts ask for less

    def open(self) -> Engine:
        if self.engine == "ray":
            from inference.engines.ray_pool import RayModelPool

            servers = [url.strip() for url in self.server.split(",")] if self.server else []
            return RayModelPool(
                self.model,
                servers,
                actors=self.actors,
                cpus_per_actor=self.cpus_per_actor,
                parallel=self.parallel,
                n_ctx=self.n_ctx,
                address=self.address,
            )
        if self.engine != "local":
            raise ValueError(f"unknown engine {self.engine!r}: choose local or ray")
        if self.address:
            raise ValueError("--address needs --engine ray")
        from inference.engines import open_engine

        return open_engine(
            self.model, self.server, parallel=self.parallel, threads=self.threads, n_ctx=self.n_ctx
        )


def _run_model_stage(
    where: StageEngine, run: Callable[[Engine], Any], describe: Callable[[Any], str] | None = None
) -> None:
    """Open the model, run one stage with it, close it, print the stage's summary (`describe`, default
    `format_stage`); errors become messages."""
    from inference.summary import format_stage

    try:
        engine = where.open()
    except (OSError, ValueError, RuntimeError) as exc:
        raise _fail(exc) from exc
    try:
        report = run(engine)
    except (ValueError, RuntimeError) as exc:  # a busy warehouse, no seeds, a server or decode failure
        raise _fail(exc) from exc
    finally:
        engine.close()
    typer.echo((describe or format_stage)(report))


@seed_app.command("load")
def seed_load(
    paths: Annotated[
        list[Path] | None,
        typer.Argument(
            help="JSONL(.gz): OpenAssistant trees, Self-Instruct, dolly, or instruction/output. "
            "None: the embedded seed set."
        ),
    ] = None,
    warehouse: Annotated[Path, typer.Option(help="Warehouse folder.")] = DEFAULT_WAREHOUSE,
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
        raise _fail(exc) from exc
    read = ", ".join(f"{name}: {n:,}" for name, n in report.read.items())
    typer.echo(
        f"{table} read ({read}); added {report.added:,}, already present {report.already_present:,}, "
        f"table now {report.total:,}"
    )
    if report.skipped:
        typer.echo(
            f"lines without a {unit}: " + ", ".join(f"{k}={v:,}" for k, v in sorted(report.skipped.items()))
        )


tasks_app = typer.Typer(no_args_is_help=True, help="The Self-Instruct task pool.")
app.add_typer(tasks_app, name="tasks")


@tasks_app.command("load")
def tasks_load(
    paths: Annotated[
        list[Path] | None,
        typer.Argument(
            help="JSONL(.gz) of Self-Instruct seed tasks (instruction, instances, is_classification) or "
            "instruction/input/output records. None: the embedded seed set."
        ),
    ] = None,
    warehouse: Annotated[Path, typer.Option(help="Warehouse folder.")] = DEFAULT_WAREHOUSE,
) -> None:
    """Add seed tasks to the warehouse's seed_tasks table."""
    from etl.seeds.tasks import add_seed_tasks

    _load_seeds(add_seed_tasks, paths, warehouse, "seed tasks", "task")


@app.command("self-instruct")
def self_instruct_command(
    target: Annotated[int, typer.Option(help="Grow the pool to this many generated tasks.")],
    warehouse: Annotated[Path, typer.Option(help="Warehouse folder.")] = DEFAULT_WAREHOUSE,
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
    from inference.self_instruct.run import self_instruct
    from inference.summary import format_self_instruct

    if target < 1:
        raise typer.BadParameter("give a positive number", param_hint="--target")
    store = _warehouse(warehouse)
    where = StageEngine(model, server, parallel, threads, engine, address, actors, cpus_per_actor)
    try:
        opened = where.open()
    except (OSError, ValueError, RuntimeError) as exc:
        raise _fail(exc) from exc
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
        raise _fail(exc) from exc
    finally:
        opened.close()
    typer.echo(format_self_instruct(report))


@app.command()
def augment(
    warehouse: Annotated[Path, typer.Option(help="Warehouse folder.")] = DEFAULT_WAREHOUSE,
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
            help="Draws per segment; the one its text is likeliest under is kept. Default: 4 for the "
            "base model prompted few-shot, 2 for a fine-tuned backward model, 1 through --server."
        ),
    ] = None,
    attempts: Annotated[
        int | None, typer.Option(help="Rounds of draws for a segment whose draws all failed.")
    ] = None,
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

    sampling = Sampling(temperature=temperature, top_p=top_p, seed=seed, max_new_tokens=max_new_tokens)
    store = _warehouse(warehouse)
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
        drawing = choose_drawing(chosen, served=server is not None, candidates=candidates, attempts=attempts)
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

    _run_model_stage(
        StageEngine(model, server, parallel, threads, engine, address, actors, cpus_per_actor), run
    )


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


@app.command()
def curate(
    warehouse: Annotated[Path, typer.Option(help="Warehouse folder.")] = DEFAULT_WAREHOUSE,
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
    store = _warehouse(warehouse)
    _run_model_stage(
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


@app.command()
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
        raise _fail(exc) from exc
    loads = [load_seed_file(p) for p in seeds] if seeds else [load_embedded_seeds()]
    seed_pairs = pl.concat([load.frame() for load in loads]).unique("seed_id", keep="first")
    _run_model_stage(
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


@app.command("eval")
def eval_command(
    prompts: Annotated[
        Path, typer.Option(help="JSONL prompts: instruction, question, prompt or text, or turns (Vicuna).")
    ],
    warehouse: Annotated[Path, typer.Option(help="Warehouse folder.")] = DEFAULT_WAREHOUSE,
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
            _warehouse(warehouse),
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
        raise _fail(exc) from exc
    typer.echo(format_eval(report))


OUTPUT_FORMATS = {".csv": "csv", ".json": "json", ".jsonl": "json", ".ndjson": "json", ".parquet": "parquet"}


@app.command("sql")
def sql_query(
    query: Annotated[str | None, typer.Argument(help="A SELECT over the tables and views.")] = None,
    warehouse: Annotated[Path, typer.Option(help="Warehouse folder.")] = DEFAULT_WAREHOUSE,
    file: Annotated[Path | None, typer.Option("--file", help="Read the query from this .sql file.")] = None,
    out: Annotated[
        Path | None,
        typer.Option(help="Write the result to .csv, .json/.jsonl (one object a line) or .parquet."),
    ] = None,
    max_rows: Annotated[int, typer.Option(help="Rows printed when there is no --out.")] = 50,
) -> None:
    """Query the warehouse with DuckDB, read-only: every table and the views of sql/views/ are there."""
    import duckdb
    import polars as pl

    from warehouse.views import QueryRefused, check_read_only, connect_views

    if (query is None) == (file is None):
        raise typer.BadParameter("give a query or --file, one of the two")
    text = file.read_text() if file is not None else query
    fmt = None
    if out is not None:
        fmt = OUTPUT_FORMATS.get(out.suffix.lower())
        if fmt is None:
            raise typer.BadParameter(f"unknown output type {out.suffix!r}: use {', '.join(OUTPUT_FORMATS)}")
    if not warehouse.is_dir():
        raise _fail(FileNotFoundError(f"no warehouse at {warehouse}"))
    con = connect_views(warehouse)
    try:
        check_read_only(con, text)
        result = pl.from_arrow(con.sql(text).to_arrow_table())
    except (QueryRefused, duckdb.Error) as exc:
        raise _fail(exc) from exc
    finally:
        con.close()
    if out is None:
        with pl.Config(tbl_rows=max_rows, tbl_cols=-1, fmt_str_lengths=60, tbl_width_chars=200):
            typer.echo(result)
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    {"csv": result.write_csv, "json": result.write_ndjson, "parquet": result.write_parquet}[fmt](out)
    typer.echo(f"wrote {result.height:,} rows to {out}")


@app.command()
def export(
    out: Annotated[Path, typer.Option(help="The JSONL file to write.")],
    warehouse: Annotated[Path, typer.Option(help="Warehouse folder.")] = DEFAULT_WAREHOUSE,
    iteration: IterationOption = 0,
    min_score: Annotated[
        float,
        typer.Option(help="k of the curated set A_k: whole on the score, fractional on the expected score."),
    ] = 4.0,
    format_: Annotated[str, typer.Option("--format", help="chat (messages) or alpaca.")] = "chat",
    mode: Annotated[
        str, typer.Option(help="Whose scores decide: calibrated, direct or reasoned.")
    ] = "calibrated",
    exclude: Annotated[
        Path | None,
        typer.Option(
            help="JSONL of evaluation prompts; rows whose instruction overlaps one are dropped (the prompts "
            "humpback eval used in the warehouse always are)."
        ),
    ] = None,
    self_instruct: Annotated[
        bool,
        typer.Option(help="Add the generated Self-Instruct pairs that meet the same k (curate --pairs)."),
    ] = False,
) -> None:
    """Write the seed set and the curated set as training JSONL, with the paper's system prompts."""
    from warehouse.exports import FORMATS, NGRAM, export_training

    if format_ not in FORMATS:
        raise typer.BadParameter(f"choose one of {', '.join(FORMATS)}", param_hint="--format")
    if exclude is not None and not exclude.is_file():
        raise typer.BadParameter(f"not found: {exclude}", param_hint="--exclude")
    if not warehouse.is_dir():
        raise _fail(FileNotFoundError(f"no warehouse at {warehouse}"))
    try:
        report = export_training(
            warehouse,
            out,
            iteration=iteration,
            min_score=min_score,
            fmt=format_,
            mode=mode,
            exclude=exclude,
            self_instruct=self_instruct,
        )
    except ValueError as exc:
        raise _fail(exc) from exc
    sources = ", ".join(f"{name} {n:,}" for name, n in report.by_source.items())
    typer.echo(f"wrote {report.rows:,} rows ({sources or 'none'}) to {out}")
    if exclude is not None or report.excluded:
        where = f"{exclude} or the warehouse's eval_prompts" if exclude is not None else "eval_prompts"
        typer.echo(f"excluded {report.excluded:,} rows sharing a {NGRAM}-word run with a prompt of {where}")
        for instruction in report.excluded_examples:
            typer.echo(f"  e.g. {instruction[:100]!r}")


@app.command()
def report(
    warehouse: Annotated[Path, typer.Option(help="Warehouse folder.")] = DEFAULT_WAREHOUSE,
    out: Annotated[
        Path | None, typer.Option(help="The HTML file to write; default <warehouse>/report.html.")
    ] = None,
    iteration: Annotated[
        int | None, typer.Option(help="The iteration to report on; default the newest scored one.")
    ] = None,
    min_score: Annotated[float, typer.Option(help="k of the curated set A_k shown.")] = 4.0,
    mode: Annotated[
        str | None,
        typer.Option(help="Whose scores: calibrated, direct or reasoned; default the most-scored mode."),
    ] = None,
) -> None:
    """Write a self-contained HTML report: funnel, scores, lengths, leading verbs and sample rows."""
    from warehouse.report import build_report

    try:
        result = build_report(warehouse, out, iteration=iteration, k=min_score, mode=mode)
    except (FileNotFoundError, ValueError) as exc:
        raise _fail(exc) from exc
    scope = f"iteration {result.iteration}, {result.mode} scores, A_{result.k:g}"
    typer.echo(f"report ({scope}; {len(result.charts)} charts): {result.path.resolve().as_uri()}")
    for name, why in result.missing.items():
        typer.echo(f"  no {name.replace('_', ' ')} chart: {why}")


@app.command()
def compact(
    warehouse: Annotated[Path, typer.Option(help="Warehouse folder.")] = DEFAULT_WAREHOUSE,
    table: Annotated[
        list[str] | None,
        typer.Option("--table", help="A table to compact (repeat); default every compacted table."),
    ] = None,
    target_rows: Annotated[int, typer.Option(help="Rows per merged file, at most.")] = 500_000,
) -> None:
    """Merge the small Parquet files of the model stages' tables into big ones, atomically: readers see
    the old files or the new ones. Takes the warehouse; fails while a run holds it."""
    from warehouse.compact import compact as compact_tables

    if not warehouse.is_dir():
        raise _fail(FileNotFoundError(f"no warehouse at {warehouse}"))
    try:
        reports = compact_tables(_warehouse(warehouse), table, target_rows=target_rows)
    except (ValueError, RuntimeError) as exc:  # a table not compacted; WarehouseBusy
        raise _fail(exc) from exc
    for done in reports:
        typer.echo(done.describe())
    if not reports:
        typer.echo("no compacted table in the warehouse yet")


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


@app.command()
def train(
    role: Annotated[str, typer.Option(help="backward: p(instruction | output) on the seeds; forward: M_t.")],
    warehouse: Annotated[Path, typer.Option(help="Warehouse folder.")] = DEFAULT_WAREHOUSE,
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
            _warehouse(warehouse),
            role,
            iteration,
            settings=settings,
            base=base,
            k=min_score,
            mode=mode,
            show_progress=progress,
        )
    except (OSError, ValueError, RuntimeError) as exc:
        raise _fail(exc) from exc
    typer.echo(package.summary.format_model(row))


@app.command()
def iterate(
    warehouse: Annotated[Path, typer.Option(help="Warehouse folder.")] = DEFAULT_WAREHOUSE,
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
            _warehouse(warehouse),
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
        raise _fail(exc) from exc
    typer.echo(package.summary.format_iterate(report))


if __name__ == "__main__":
    app()
