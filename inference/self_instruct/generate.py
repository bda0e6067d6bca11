"""Instruction generation: rounds of prompts, each showing 8 pool instructions (6 human-written, 2
generated once there are any), until the pool holds the requested number of generated tasks.

A round is one committed Parquet file of `task_candidates`: every instruction the round's prompts
produced, with its status (ok joins the pool; anything else is a reason). A round depends on the pool
before it, so rounds run one after the other; the prompts of a round run together (in-process batching,
or across Ray actors in chunks of `chunk_rows`). The prompts and each prompt's sampling seed come from
the run seed and the round number, and the pool is read back from the committed rounds, so a run that
is killed recomputes only its unfinished round, with the same prompts, and writes no row twice.
"""

from __future__ import annotations

import json
import random
import time
from datetime import UTC, datetime

import polars as pl
import pyarrow as pa
import xxhash
from tqdm import tqdm

import sql
from inference.engines.base import Engine
from inference.prompts.self_instruct import (
    GENERATION_PREFIX,
    GENERATION_VERSION,
    SHOWN,
    generation_stop,
    generation_suffix,
    parse_numbered_list,
)
from inference.runner import StageReport
from inference.sampling import Sampling, row_seed
from inference.self_instruct.filters import instruction_status, word_count
from inference.self_instruct.novelty import filter_novel
from warehouse.compact import compact_after_run
from warehouse.connect import connect, query
from warehouse.keys import task_id
from warehouse.schemas import TASK_CANDIDATES
from warehouse.store import Warehouse

GENERATED_SHOWN = 2  # of the SHOWN instructions, at most this many are generated ones


def default_generation_sampling(seed: int = 0) -> Sampling:
    """Self-Instruct sampled its GPT-3 at temperature 0.7 and top-p 0.5; a list of 8 needs room."""
    return Sampling(temperature=0.7, top_p=0.5, seed=seed, max_new_tokens=256)


def read_pool(warehouse: Warehouse) -> pl.DataFrame:
    """task_id, instruction, origin (seed | generated) and round of every task in the pool, in a
    fixed order: seeds by id, then generated tasks in the order they were accepted."""
    con = connect(warehouse)
    pool = query(con, sql.load("self_instruct/pool"))
    con.close()
    return pool


def choose_shown(pool: pl.DataFrame, rng: random.Random) -> pl.DataFrame:
    """Up to 2 generated and the rest human-written instructions, shuffled: one prompt's list."""
    seeds = pool.filter(pl.col("origin") == "seed")
    generated = pool.filter(pl.col("origin") == "generated")
    take = rng.sample(range(generated.height), min(GENERATED_SHOWN, generated.height))
    shown = [generated.row(i, named=True) for i in take]
    rest = rng.sample(range(seeds.height), min(SHOWN - len(shown), seeds.height))
    shown += [seeds.row(i, named=True) for i in rest]
    rng.shuffle(shown)
    return pl.DataFrame(shown, schema=pool.schema)


def candidates_of_round(
    outputs: pl.DataFrame, pool: pl.DataFrame, round_: int, model: str, version: str
) -> pl.DataFrame:
    """The round's parsed instructions, with their statuses: heuristics first, then novelty against the
    pool and the instructions accepted before them in this round (prompt order, then list order)."""
    rows = []
    for prompt in outputs.iter_rows(named=True):
        generation_id = xxhash.xxh3_128_hexdigest(
            f"{round_}|{prompt['prompt_index']}|{model}|{version}|{prompt['sampling_seed']}".encode()
        )
        first = len(prompt["shown_task_ids"]) + 1
        items = parse_numbered_list(prompt["raw_output"], first, prompt["stopped"])
        common = {k: prompt[k] for k in prompt if k != "stopped"} | {"generation_id": generation_id}
        if not items or all(not item.text for item in items):
            rows.append(common | {"item": None, "instruction": None, "complete": True})
        rows.extend(common | {"item": i.number, "instruction": i.text, "complete": i.complete} for i in items)
    frame = pl.DataFrame(rows, infer_schema_length=None).with_columns(
        candidate_id=pl.concat_str(
            pl.col("generation_id"), pl.col("item").cast(pl.String).fill_null("-")
        ).map_batches(lambda s: pl.Series([xxhash.xxh3_128_hexdigest(v.encode()) for v in s]), pl.String),
        status=pl.when(pl.col("instruction").is_null())
        .then(pl.lit("no_items"))
        .otherwise(instruction_status(pl.col("instruction"), pl.col("complete"))),
        instruction_words=word_count(pl.col("instruction")),
        round=pl.lit(round_, pl.Int32),
    )
    # The novelty filter: sequential by nature, as each kept instruction joins the pool at once.
    passing = frame.with_row_index("row").filter(pl.col("status") == "ok")
    decisions = filter_novel(pool["instruction"].to_list(), passing["instruction"].to_list())
    ids = [*pool["task_id"].to_list(), *(task_id(t) for t in passing["instruction"])]
    novelty = pl.DataFrame(
        {
            "row": passing["row"],
            "novel_status": ["ok" if d.kept else "similar" for d in decisions],
            "similar_to": [ids[d.nearest] if d.nearest is not None else None for d in decisions],
            "rouge_l": [d.score for d in decisions],
        },
        schema_overrides={"row": pl.UInt32, "similar_to": pl.String, "rouge_l": pl.Float64},
    )
    return (
        frame.with_row_index("row")
        .join(novelty, on="row", how="left")
        .with_columns(
            status=pl.coalesce("novel_status", "status"),
            task_id=pl.col("instruction").map_elements(task_id, return_dtype=pl.String),
        )
        .drop("row", "novel_status", "complete")
    )


def generate_instructions(
    warehouse: Warehouse,
    engine: Engine,
    target: int,
    *,
    sampling: Sampling | None = None,
    prompts_per_round: int = 8,
    chunk_rows: int = 8,
    max_rounds: int | None = None,
    patience: int = 3,
    show_progress: bool = True,
) -> StageReport:
    """Run rounds until the pool holds `target` generated tasks, `max_rounds` rounds ran, or `patience`
    rounds in a row added none. The caller holds the warehouse."""
    sampling = sampling or default_generation_sampling()
    params = sampling.to_json()
    report = StageReport(
        stage="self-instruct: generate", model=engine.model_id, prompt_version=GENERATION_VERSION
    )
    warehouse.remove_unfinished_writes("task_candidates")
    pool = read_pool(warehouse)
    if not (pool["origin"] == "seed").any():
        raise ValueError("no seed tasks in the warehouse: run humpback tasks load")
    have = int((pool["origin"] == "generated").sum())
    report.already_done = have
    con = connect(warehouse)
    round_ = int(query(con, "SELECT coalesce(max(round), 0) AS r FROM task_candidates")["r"][0])
    con.close()
    stop = generation_stop()
    started = time.perf_counter()
    bar = tqdm(
        total=target, initial=min(have, target), unit="task", desc=report.stage, disable=not show_progress
    )
    idle = rounds = 0
    try:
        while have < target and idle < patience and (max_rounds is None or rounds < max_rounds):
            round_ += 1
            rng = random.Random(row_seed(sampling.seed, f"round {round_}"))
            prompts = []
            for index in range(prompts_per_round):
                shown = choose_shown(pool, rng)
                prompts.append(
                    {
                        "prompt_index": index,
                        "shown_task_ids": shown["task_id"].to_list(),
                        "suffix": generation_suffix(shown["instruction"].to_list()),
                        "sampling_seed": row_seed(sampling.seed, f"{round_}|{index}"),
                    }
                )
            frame = pl.DataFrame(prompts)

            def compute(engine: Engine, chunk: pl.DataFrame) -> pl.DataFrame:
                outputs = engine.complete(
                    GENERATION_PREFIX,
                    chunk["suffix"].to_list(),
                    sampling,
                    chunk["sampling_seed"].to_list(),
                    stop,
                )
                return chunk.drop("suffix").with_columns(
                    raw_output=pl.Series([o.text for o in outputs], dtype=pl.String),
                    stopped=pl.Series([o.stopped for o in outputs]),
                    prompt_tokens=pl.Series([o.prompt_tokens for o in outputs], dtype=pl.Int32),
                    uncached_tokens=pl.Series([o.uncached_tokens for o in outputs], dtype=pl.Int32),
                    completion_tokens=pl.Series([o.completion_tokens for o in outputs], dtype=pl.Int32),
                    model=pl.lit(engine.model_id),
                    model_source=pl.lit(engine.model_source),
                )

            chunks = [frame.slice(o, chunk_rows) for o in range(0, frame.height, chunk_rows)]
            outputs = pl.concat([out for _, out in engine.map_batches(compute, chunks)]).sort("prompt_index")
            rows = candidates_of_round(outputs, pool, round_, engine.model_id, GENERATION_VERSION)
            batch_id = xxhash.xxh3_128_hexdigest(
                f"round {round_}|{engine.model_id}|{GENERATION_VERSION}".encode()
            )
            rows = rows.with_columns(
                prompt_version=pl.lit(GENERATION_VERSION),
                params=pl.lit(
                    json.dumps(json.loads(params) | {"prompts_per_round": prompts_per_round}, sort_keys=True)
                ),
                input_truncated=pl.lit(False),
                batch_id=pl.lit(batch_id),
            )
            warehouse.append_part("task_candidates", _to_arrow(rows), batch_id)
            accepted = rows.filter(pl.col("status") == "ok")
            pool = pl.concat(
                [pool, accepted.select("task_id", "instruction", origin=pl.lit("generated"), round="round")],
                how="vertical_relaxed",
            )
            rounds += 1
            have += accepted.height
            idle = 0 if accepted.height else idle + 1
            report.batches += 1
            report.computed += outputs.height
            report.statuses.update(rows["status"].to_list())
            report.uncached_tokens += int(outputs["uncached_tokens"].sum())
            report.completion_tokens += int(outputs["completion_tokens"].sum())
            bar.update(min(have, target) - bar.n)
            bar.set_postfix_str(f"round {round_}, {report.statuses.get('similar', 0)} similar", refresh=False)
    finally:
        bar.close()
        report.seconds = time.perf_counter() - started
    report.extra.update(
        rounds=rounds, generated=have, target=target, gave_up=have < target and idle >= patience
    )
    compaction = compact_after_run(warehouse, "task_candidates")  # a file per round: merge them
    if compaction is not None:
        report.extra["compaction"] = compaction
    return report


def _to_arrow(rows: pl.DataFrame) -> pa.Table:
    rows = rows.with_columns(created_at=pl.lit(datetime.now(UTC)))
    return rows.select(TASK_CANDIDATES.names).to_arrow().cast(TASK_CANDIDATES)
