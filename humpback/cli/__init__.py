"""`humpback`: the command line, a thin layer over the library functions.

One module per command group; this one only assembles them, in the order `humpback --help` lists them.
"""

from __future__ import annotations

import typer

from humpback.cli import corpus, evaluation, model_stages, seeds, serving, tables, training
from humpback.cli.stage_engine import StageEngine

__all__ = ["StageEngine", "app"]

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Instruction backtranslation data engine.")


@app.callback()
def main() -> None:
    """Instruction backtranslation (Humpback) data engine."""


app.command()(corpus.etl)

seed_app = typer.Typer(no_args_is_help=True, help="The seed (instruction, output) pairs.")
seed_app.command("load")(seeds.seed_load)
app.add_typer(seed_app, name="seed")
tasks_app = typer.Typer(no_args_is_help=True, help="The Self-Instruct task pool.")
tasks_app.command("load")(seeds.tasks_load)
app.add_typer(tasks_app, name="tasks")

app.command("self-instruct")(model_stages.self_instruct_command)
app.command()(model_stages.augment)
app.command()(model_stages.curate)
app.command()(model_stages.score)
app.command("eval")(evaluation.eval_command)
app.command("likelihood")(evaluation.likelihood_command)
app.command("sql")(tables.sql_query)
app.command()(tables.export)
app.command()(tables.report)
app.command()(tables.compact)
app.command()(training.train)
app.command()(training.iterate)
app.command()(serving.serve)
