"""The warehouse's tables out: `sql`, `export`, `report`, and `compact`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from humpback.cli.options import (
    DEFAULT_WAREHOUSE,
    IterationOption,
    WarehouseOption,
    fail,
    open_warehouse,
)

OUTPUT_FORMATS = {".csv": "csv", ".json": "json", ".jsonl": "json", ".ndjson": "json", ".parquet": "parquet"}


def sql_query(
    query: Annotated[str | None, typer.Argument(help="A SELECT over the tables and views.")] = None,
    warehouse: WarehouseOption = DEFAULT_WAREHOUSE,
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
        raise fail(FileNotFoundError(f"no warehouse at {warehouse}"))
    con = connect_views(warehouse)
    try:
        check_read_only(con, text)
        result = pl.from_arrow(con.sql(text).to_arrow_table())
    except (QueryRefused, duckdb.Error) as exc:
        raise fail(exc) from exc
    finally:
        con.close()
    if out is None:
        with pl.Config(tbl_rows=max_rows, tbl_cols=-1, fmt_str_lengths=60, tbl_width_chars=200):
            typer.echo(result)
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    {"csv": result.write_csv, "json": result.write_ndjson, "parquet": result.write_parquet}[fmt](out)
    typer.echo(f"wrote {result.height:,} rows to {out}")


def export(
    out: Annotated[Path, typer.Option(help="The JSONL file to write.")],
    warehouse: WarehouseOption = DEFAULT_WAREHOUSE,
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
        raise fail(FileNotFoundError(f"no warehouse at {warehouse}"))
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
        raise fail(exc) from exc
    sources = ", ".join(f"{name} {n:,}" for name, n in report.by_source.items())
    typer.echo(f"wrote {report.rows:,} rows ({sources or 'none'}) to {out}")
    if exclude is not None or report.excluded:
        where = f"{exclude} or the warehouse's eval_prompts" if exclude is not None else "eval_prompts"
        typer.echo(f"excluded {report.excluded:,} rows sharing a {NGRAM}-word run with a prompt of {where}")
        for instruction in report.excluded_examples:
            typer.echo(f"  e.g. {instruction[:100]!r}")


def report(
    warehouse: WarehouseOption = DEFAULT_WAREHOUSE,
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
        raise fail(exc) from exc
    scope = f"iteration {result.iteration}, {result.mode} scores, A_{result.k:g}"
    typer.echo(f"report ({scope}; {len(result.charts)} charts): {result.path.resolve().as_uri()}")
    for name, why in result.missing.items():
        typer.echo(f"  no {name.replace('_', ' ')} chart: {why}")


def compact(
    warehouse: WarehouseOption = DEFAULT_WAREHOUSE,
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
        raise fail(FileNotFoundError(f"no warehouse at {warehouse}"))
    try:
        reports = compact_tables(open_warehouse(warehouse), table, target_rows=target_rows)
    except (ValueError, RuntimeError) as exc:  # a table not compacted; WarehouseBusy
        raise fail(exc) from exc
    for done in reports:
        typer.echo(done.describe())
    if not reports:
        typer.echo("no compacted table in the warehouse yet")
