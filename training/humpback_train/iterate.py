"""The Humpback loop: train the backward model M_yx on the seeds and write an instruction for every kept
segment with it; train M0 on the seeds and rate the pairs, giving A^(1); train M_t on the seeds plus
A^(t) and rate again, giving A^(t+1).

Every step skips what is done: a model whose artifact key is registered is not trained again, and the
model stages compute only rows they have not written (see inference/runner.py). A killed run, rerun
with the same arguments, goes on where it stopped; a finished one does nothing new.

Training runs in this process; the model stages run wherever `open_model` opens the engine (in-process
by default; `humpback iterate --engine ray` gives one that opens a Ray actor pool), once per stage, with
the model just trained.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import sql
from humpback_train.base_model import resolve_base
from humpback_train.settings import TrainSettings
from humpback_train.train import train_model
from inference.augment import augment, choose_drawing
from inference.curate import curate
from inference.curation.rater import rating_prompt
from inference.engines import open_engine
from inference.engines.base import Engine
from inference.runner import StageReport
from inference.sampling import Sampling
from warehouse.connect import query
from warehouse.store import Warehouse
from warehouse.views import connect_views

# The loop's prompts are chat-format, without few-shot examples: short, so a smaller context than the
# engines' default keeps each model's KV cache (one per Ray actor) small.
N_CTX = 4096

OpenModel = Callable[[str], Engine]  # a trained model's GGUF path -> an open engine on it


@dataclass
class IterateReport:
    models: list[dict[str, object]] = field(default_factory=list)
    stages: list[StageReport] = field(default_factory=list)
    curated: list[dict[str, object]] = field(default_factory=list)  # A_k size per iteration
    changed: list[dict[str, object]] = field(default_factory=list)  # iteration_diff counts

    @property
    def trained(self) -> int:
        return sum(not m["reused"] for m in self.models)

    @property
    def computed_rows(self) -> int:
        return sum(s.computed for s in self.stages)


def local_opener(parallel: int = 8, threads: int | None = None) -> OpenModel:
    """Open each model in this process: `parallel` rows decoded together on `threads` CPU threads."""

    def open_model(model_path: str) -> Engine:
        return open_engine(model_path, None, parallel=parallel, threads=threads, n_ctx=N_CTX)

    return open_model


def _stage(open_model: OpenModel, model_path: str, run: Callable[[Engine], StageReport]) -> StageReport:
    engine = open_model(model_path)
    try:
        return run(engine)
    finally:
        engine.close()


def iterate(
    warehouse: Warehouse,
    iterations: int = 2,
    *,
    settings: TrainSettings,
    base: str | Path | None = None,
    k: float = 4,
    mode: str = "direct",
    system: str = "seed",
    sample: int | None = None,
    sampling: Sampling | None = None,
    parallel: int = 8,
    threads: int | None = None,
    batch_rows: int = 32,
    show_progress: bool = True,
    log=print,
    open_model: OpenModel | None = None,
) -> IterateReport:
    """Run `iterations` rounds of curation (M0 .. M_{iterations-1}) after the backward model's augmentation.

    `sample`: only the first N kept segments (by id) are augmented, a fixed subset for small runs.
    `open_model`: opens the engine of every model stage on the GGUF trained for it (called once per
    stage, the engine closed after it); default `local_opener(parallel, threads)`, which is all
    `parallel` and `threads` are used for.
    """
    if iterations < 1:
        raise ValueError("--iterations must be at least 1")
    rating_prompt(mode, chat=True, system=system)  # an unknown mode or system fails before training
    con = connect_views(warehouse)
    kept = query(con, sql.load("training/kept_segments"))["kept"][0]
    con.close()
    if kept == 0:
        raise ValueError(f"{warehouse.root} has no kept segments: run humpback etl (make etl) first")
    open_model = open_model or local_opener(parallel, threads)
    report = IterateReport()
    base_model = resolve_base(base)
    common = {"settings": settings, "base": base_model, "k": k, "mode": mode, "show_progress": show_progress}

    backward = train_model(warehouse, "backward", 0, log=log, **common)
    report.models.append(backward)
    report.stages.append(
        _stage(
            open_model,
            str(backward["gguf_path"]),
            lambda engine: augment(
                warehouse,
                engine,
                iteration=0,
                prompt_format="chat",
                sampling=sampling,
                # no floor: it holds the backward model's own gain to a level measured for `make etl`'s
                # M_yx (the cpu preset); the loop's model, of any preset, reads its gain on another
                # scale (with the tiny preset's, the loop's test kept no augmented pair for M1)
                drawing=replace(choose_drawing("chat"), floor=None),
                sample=sample,
                batch_rows=batch_rows,
                show_progress=show_progress,
            ),
        )
    )
    for t in range(iterations):
        forward = train_model(warehouse, "forward", t, log=log, **common)
        report.models.append(forward)
        report.stages.append(
            _stage(
                open_model,
                str(forward["gguf_path"]),
                lambda engine, t=t: curate(
                    warehouse,
                    engine,
                    mode=mode,
                    iteration=t,
                    augment_iteration=0,
                    augment_model=str(backward["gguf_sha256"]),
                    prompt_format="chat",
                    system=system,
                    batch_rows=batch_rows,
                    show_progress=show_progress,
                ),
            )
        )
    con = connect_views(warehouse)
    try:
        for t in range(iterations):
            params = {"t": t, "k": k, "mode": mode}
            size = query(con, sql.load("training/curated_size"), params)["pairs"][0]
            report.curated.append({"iteration": t, "set": f"A^({t + 1})", "k": k, "pairs": size})
            if t > 0:
                params["t"] = t - 1
                changes = query(con, sql.load("training/iteration_changes"), params).to_dicts()[0]
                report.changed.append({"from": t - 1, "to": t, **changes})
    finally:
        con.close()
    return report
