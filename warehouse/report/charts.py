"""The report's charts: matplotlib figures from small polars frames, returned as PNG data URIs so the page
carries its images inside it."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no screen; set before pyplot is imported

import matplotlib.pyplot as plt
import numpy as np
import polars as pl
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

DATA_COLOURS = {"seed": "#4c72b0", "augmented": "#dd8452", "curated": "#55a868"}
FUNNEL_COLOURS = {"total": "#4c72b0", "drop": "#c44e52", "kept": "#55a868"}
PALETTE = plt.get_cmap("tab10").colors
DPI = 110
EXPECTED_EDGES = np.arange(1, 5.01, 0.25)  # the quarter-point bins of expected_score_histogram
LENGTH_TICKS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000]

plt.rcParams.update(
    {
        "font.size": 9,
        "axes.spines.top": False,
        "axes.spines.right": False,
        "axes.titlesize": 10,
        "axes.titleweight": "bold",
    }
)


def to_data_uri(figure: Figure) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight")
    plt.close(figure)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _short(model: str) -> str:
    """A model id short enough for a legend: 12 hex digits of a hash, or the server's name."""
    return model if model.startswith("server:") else model[:12]


def funnel(steps: pl.DataFrame) -> str:
    """Horizontal bars of (stage, n), top to bottom: totals, drops and what is kept."""
    stages, counts = steps["stage"].to_list(), steps["n"].to_list()
    dropped = ("rejected", "dropped", "documents without")
    kinds = ["drop" if s.startswith(dropped) else "kept" if "kept" in s else "total" for s in stages]
    figure, axes = plt.subplots(figsize=(7.5, 0.32 * len(stages) + 0.8))
    y = np.arange(len(stages))
    axes.barh(y, counts, color=[FUNNEL_COLOURS[k] for k in kinds])
    axes.set_yticks(y, stages)
    axes.invert_yaxis()
    axes.set_xlabel("rows")
    axes.set_title("From records to kept segments")
    peak = max(counts) if counts else 0
    for row, count in zip(y, counts, strict=True):
        axes.text(count + peak * 0.01, row, f"{count:,}", va="center", fontsize=8)
    axes.set_xlim(0, peak * 1.15 or 1)
    return to_data_uri(figure)


def reasons(frame: pl.DataFrame) -> str:
    """Horizontal bars of the most frequent drop and reject reasons."""
    labels = [f"{reason} ({kind})" for kind, reason in frame.select("kind", "reason").iter_rows()]
    figure, axes = plt.subplots(figsize=(7.5, 0.3 * len(labels) + 0.8))
    y = np.arange(len(labels))
    axes.barh(y, frame["n"].to_list(), color=FUNNEL_COLOURS["drop"])
    axes.set_yticks(y, labels)
    axes.invert_yaxis()
    axes.set_xlabel("rows (a segment can have several reasons)")
    axes.set_title("Why rows were dropped")
    return to_data_uri(figure)


def _series(frame: pl.DataFrame) -> list[tuple[str, pl.DataFrame]]:
    """One (label, rows) per iteration and scoring model, in order."""
    groups = frame.partition_by(["iteration", "model"], maintain_order=True, as_dict=True)
    return [(f"iteration {it} · {_short(model)}", rows) for (it, model), rows in groups.items()]


def scores(frame: pl.DataFrame, k: float) -> str:
    """Share of pairs at each score 1-5: one panel per scoring mode, bars per iteration and model."""
    modes = frame["mode"].unique(maintain_order=True).to_list()
    figure, panels = plt.subplots(1, len(modes), figsize=(4.2 * len(modes) + 1, 3.2), squeeze=False)
    for axes, mode in zip(panels[0], modes, strict=True):
        series = _series(frame.filter(pl.col("mode") == mode))
        width = 0.8 / len(series)
        for index, (label, rows) in enumerate(series):
            axes.bar(
                rows["score"].cast(pl.Float64).to_numpy() - 0.4 + width * (index + 0.5),
                rows["share"].to_numpy(),
                width=width,
                label=f"{label} (n={rows['n'].sum():,})",
                color=PALETTE[index % len(PALETTE)],
            )
        axes.set_xticks(range(1, 6))
        axes.set_xlim(0.5, 5.5)
        axes.axvline(k - 0.5 if k == int(k) else k, color="grey", linestyle="--", linewidth=1)
        axes.set_xlabel(f"score ({mode} mode); dashed: k = {k:g}")
        axes.set_ylabel("share of scored pairs")
        axes.set_title(f"Scores, {mode} mode")
        axes.legend(fontsize=7, frameon=False)
    return to_data_uri(figure)


def expected_scores(frame: pl.DataFrame, k: float) -> str:
    """Distribution of expected scores in quarter-point bins, one line per iteration and model."""
    figure, axes = plt.subplots(figsize=(7.5, 3.2))
    for index, (label, rows) in enumerate(_series(frame)):
        shares = np.zeros(len(EXPECTED_EDGES) - 1)  # bins no pair falls in stay at zero
        shares[((rows["bin_from"].to_numpy() - 1) * 4).round().astype(int)] = rows["share"].to_numpy()
        axes.stairs(
            shares,
            EXPECTED_EDGES,
            label=f"{label}, {rows['mode'][0]} (n={rows['n'].sum():,})",
            color=PALETTE[index % len(PALETTE)],
        )
    axes.axvline(k, color="grey", linestyle="--", linewidth=1)
    axes.set_xlim(1, 5)
    axes.set_xlabel(f"expected score, sum of k·p(k); dashed: k = {k:g}")
    axes.set_ylabel("share of scored pairs")
    axes.set_title("Expected scores")
    axes.legend(fontsize=7, frameon=False)
    return to_data_uri(figure)


def lengths(frame: pl.DataFrame) -> str:
    """Instruction and output lengths in words, one line per data set, on a log scale."""
    figure, panels = plt.subplots(1, 2, figsize=(9, 3.2))
    for axes, field in zip(panels, ("instruction", "output"), strict=True):
        for data, colour in DATA_COLOURS.items():
            rows = frame.filter((pl.col("field") == field) & (pl.col("data") == data)).sort("bin")
            if rows.is_empty():
                continue
            edges = np.append(rows["words_from"].to_numpy(), rows["words_to"][-1])
            label = f"{data} (n={rows['n'].sum():,})"
            axes.stairs(rows["share"].to_numpy(), edges, label=label, color=colour)
        axes.set_xscale("log")
        axes.xaxis.set_major_locator(FixedLocator(LENGTH_TICKS))
        axes.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:,.0f}"))
        axes.xaxis.set_minor_locator(NullLocator())
        axes.set_xlabel(f"{field} length, words (log scale)")
        axes.set_ylabel("share per quarter octave")
        axes.set_title(f"{field.capitalize()} lengths")
        axes.legend(fontsize=7, frameon=False)
    return to_data_uri(figure)


def leading_verbs(frame: pl.DataFrame) -> str:
    """The most common leading verbs, one panel per data set."""
    present = [data for data in DATA_COLOURS if not frame.filter(pl.col("data") == data).is_empty()]
    rows_per_panel = max((frame.filter(pl.col("data") == d).height for d in present), default=1)
    figure, panels = plt.subplots(
        1, len(present), figsize=(3.2 * len(present) + 0.6, 0.26 * rows_per_panel + 1), squeeze=False
    )
    for axes, data in zip(panels[0], present, strict=True):
        rows = frame.filter(pl.col("data") == data).sort("rank")
        y = np.arange(rows.height)
        axes.barh(y, rows["share"].to_numpy() * 100, color=DATA_COLOURS[data])
        axes.set_yticks(y, rows["verb"].to_list())
        axes.invert_yaxis()
        axes.set_xlabel("% of instructions")
        total = round(rows["n"].sum() / rows["share"].sum())  # every instruction, not just the top words
        axes.set_title(f"{data} (n={total:,})")
    title = "Leading words: the verb of an imperative, or the question word"
    figure.suptitle(title, fontweight="bold", fontsize=10)
    return to_data_uri(figure)


def evaluations(frame: pl.DataFrame) -> str:
    """One panel per evaluation run: side A's win rate per category, with its 95% interval, around 50%."""
    runs = frame.partition_by("run", maintain_order=True)
    heights = [0.28 * run.height + 0.9 for run in runs]
    figure, panels = plt.subplots(
        len(runs), 1, figsize=(7.5, sum(heights)), gridspec_kw={"height_ratios": heights}, squeeze=False
    )
    for axes, run in zip(panels[:, 0], runs, strict=True):
        y = np.arange(run.height)
        rate = run["win_rate"].to_numpy() * 100
        low, high = run["ci_low"].to_numpy() * 100, run["ci_high"].to_numpy() * 100
        overall = (run["category"] == "all").to_numpy()
        colours = [PALETTE[0] if is_all else PALETTE[7] for is_all in overall]
        axes.axvline(50, color="#888", linestyle="--", linewidth=1)
        axes.errorbar(rate, y, xerr=[rate - low, high - rate], fmt="none", ecolor="#555", capsize=3)
        axes.scatter(rate, y, color=colours, zorder=3)
        labels = [f"{c} ({n})" for c, n in zip(run["category"], run["prompts"], strict=True)]
        axes.set_yticks(y, labels)
        axes.invert_yaxis()
        axes.set_xlim(-3, 103)  # a point at 0% or 100% stays whole
        axes.set_xlabel("A's win rate, ties as half (%)")
        a, b = Path(run["label_a"][0]).name, Path(run["label_b"][0]).name
        axes.set_title(f"A: {a}  vs  B: {b}", fontsize=9)
    figure.tight_layout()
    return to_data_uri(figure)


def data_value(frame: pl.DataFrame) -> str:
    """The variants' reference likelihood against the seeds-only models and against the same-size random
    sample: mean differences with their 95% intervals, around zero."""
    figure, panels = plt.subplots(1, 2, figsize=(9, 0.4 * frame.height + 1.4), sharey=True)
    y = np.arange(frame.height)
    for axes, against in zip(panels, ("seeds", "random"), strict=True):
        diff = frame[f"vs_{against}"].to_numpy()
        low, high = frame[f"vs_{against}_low"].to_numpy(), frame[f"vs_{against}_high"].to_numpy()
        axes.axvline(0, color="#888", linestyle="--", linewidth=1)
        xerr = np.clip([diff - low, high - diff], 0, None)  # a percentile interval may miss its mean
        axes.errorbar(diff, y, xerr=xerr, fmt="none", ecolor="#555", capsize=3)
        axes.scatter(diff, y, color=PALETTE[0], zorder=3)
        axes.set_yticks(y, frame["variant"].to_list())
        axes.set_xlabel(f"difference from {against} (log-likelihood per token)")
    panels[0].invert_yaxis()
    figure.suptitle("Held-out reference answers: what each kind of data adds", fontweight="bold", fontsize=10)
    figure.tight_layout()
    return to_data_uri(figure)
