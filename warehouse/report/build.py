"""`humpback report`: one self-contained HTML page about a warehouse, for people.

Every number comes from the views of `sql/views/` through the queries of `sql/report/`; the charts are
PNG images inside the page, so it can be mailed or opened offline. The page covers one iteration and one
curated set A_k (by default the newest scored iteration, its most-scored mode and k = 4), except the score
distributions, which show every iteration side by side.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.resources import files
from pathlib import Path

import polars as pl
from jinja2 import Environment, PackageLoader, select_autoescape

import sql
from warehouse.connect import query
from warehouse.report import charts
from warehouse.store import Warehouse, write_text_atomic
from warehouse.views import connect_views

TOP_REASONS = 12
TOP_VERBS = 12
SAMPLES_PER_SCORE = 3
EXCERPT_CHARS = 600
EVAL_RUNS = 6  # the newest evaluations the chart shows
BENCHMARK_FIGURES = "curation_benchmark.json"  # written by benchmarks/curation_quality.py --record
_KIND_ORDER = ["mismatched", "boilerplate", "truncated", "chatter", "echo", "lower_ranked"]


@dataclass
class ReportResult:
    path: Path
    iteration: int
    mode: str
    k: float
    charts: list[str] = field(default_factory=list)  # ids of the charts drawn
    missing: dict[str, str] = field(default_factory=dict)  # chart id -> why it is not drawn


def _scope(con, iteration: int | None, mode: str | None) -> tuple[int, str]:
    """The iteration and mode to report on: the ones asked for, else the newest scored iteration and its
    most-scored mode (0 and direct on a warehouse with no scores yet)."""
    scored = query(con, sql.load("report/scope"))
    if iteration is None:
        iteration = int(scored["iteration"][0]) if scored.height else 0
    if mode is None:
        modes = scored.filter(pl.col("iteration") == iteration)["mode"]
        mode = modes[0] if len(modes) else "direct"
    return iteration, mode


def benchmark_figures(models: list[str]) -> dict | None:
    """The curation benchmark's figures (benchmarks/curation_quality.py --record) when they were measured
    with one of these scoring models, else None."""
    try:
        figures = json.loads((files(__package__) / BENCHMARK_FIGURES).read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    if figures.get("model") not in models:
        return None
    kinds = sorted(
        {kind for mode in figures["modes"].values() for kind in mode["auroc"]}, key=_KIND_ORDER.index
    )
    return figures | {"kinds": kinds}


def build_report(
    warehouse: Warehouse | Path | str,
    out: Path | str | None = None,
    *,
    iteration: int | None = None,
    k: float = 4.0,
    mode: str | None = None,
) -> ReportResult:
    """Write the report (by default `<warehouse>/report.html`) and say what it holds."""
    warehouse = warehouse if isinstance(warehouse, Warehouse) else Warehouse(warehouse)
    if not warehouse.root.is_dir():
        raise FileNotFoundError(f"no warehouse at {warehouse.root}")
    out = Path(out) if out is not None else warehouse.root / "report.html"
    con = connect_views(warehouse)
    try:
        iteration, mode = _scope(con, iteration, mode)
        scope = {"iteration": iteration, "k": k, "mode": mode}

        def load(name: str, **params: object) -> pl.DataFrame:
            return query(con, sql.load(f"report/{name}"), params or None)

        overview = load("overview", **scope).row(0, named=True)
        frames = {
            "funnel": load("funnel"),
            "reasons": load("reasons", top=TOP_REASONS),
            "scores": load("scores"),
            "expected_scores": load("expected_scores"),
            "lengths": load("lengths", **scope),
            "leading_verbs": load("leading_verbs", **scope, top=TOP_VERBS),
            "evaluations": load("evaluations", runs=EVAL_RUNS),
            "data_value": load("data_value"),
        }
        statistics = load("data_statistics", iteration=iteration, mode=mode)
        samples = load("samples", **scope, per_score=SAMPLES_PER_SCORE)
        calibrations = load("calibrations", iteration=iteration, mode=mode)
        models = load("models")
        trained = load("trained_models")
    finally:
        con.close()

    result = ReportResult(path=out, iteration=iteration, mode=mode, k=k)
    drawers = {
        "funnel": (charts.funnel, "the ETL has not run on this warehouse yet"),
        "reasons": (charts.reasons, "no record was rejected and no segment dropped"),
        "scores": (lambda f: charts.scores(f, k), "no pair has been scored yet (humpback curate)"),
        "expected_scores": (
            lambda f: charts.expected_scores(f, k),
            "no expected scores yet (the direct scoring mode writes them)",
        ),
        "lengths": (charts.lengths, "no seed or augmented pairs yet (humpback seed load, humpback augment)"),
        "leading_verbs": (charts.leading_verbs, "no instructions yet"),
        "evaluations": (charts.evaluations, "no pairwise evaluation yet (humpback eval)"),
        "data_value": (charts.data_value, "no data-value run in this warehouse (benchmarks/data_value.py)"),
    }
    images: dict[str, str] = {}
    for name, (draw, why_missing) in drawers.items():
        frame = frames[name]
        if frame.is_empty():
            result.missing[name] = why_missing
            continue
        images[name] = draw(frame)
        result.charts.append(name)

    output = pl.col("output")
    excerpt = (  # cut long outputs at the last word boundary before the limit
        pl.when(output.str.len_chars() > EXCERPT_CHARS)
        .then(output.str.slice(0, EXCERPT_CHARS).str.replace(r"\s+\S*$", "") + " …")
        .otherwise(output)
    )
    by_score = [
        {"score": group["score"][0], "rows": group.to_dicts()}
        for group in samples.with_columns(output=excerpt).partition_by("score", maintain_order=True)
    ]
    environment = Environment(
        loader=PackageLoader("warehouse.report", "templates"), autoescape=select_autoescape(["html", "j2"])
    )
    page = environment.get_template("report.html.j2").render(
        title=f"Humpback report: {warehouse.root.resolve().name}",
        warehouse=str(warehouse.root.resolve()),
        generated=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        iteration=iteration,
        mode=mode,
        k=k,
        overview=overview,
        images=images,
        missing=result.missing,
        statistics=statistics.to_dicts(),
        samples=by_score,
        samples_per_score=SAMPLES_PER_SCORE,
        models=models.to_dicts(),
        calibrations=[
            row | {"negatives": json.loads(row["negatives"]), "figures": json.loads(row["figures"])}
            for row in calibrations.to_dicts()
        ],
        benchmark=benchmark_figures(models.filter(pl.col("stage") == "curate")["model"].unique().to_list()),
        trained=trained.to_dicts(),
        evaluations=frames["evaluations"].filter(pl.col("category") == "all").to_dicts(),
        data_value=frames["data_value"].to_dicts(),
    )
    write_text_atomic(page, out)  # a reader never sees half a page
    return result
