"""Did the data help? Forward models trained on the seeds alone, on the seeds and the curated set A_k,
on the seeds and as many augmented pairs drawn at random, on the seeds and every augmented pair, and on
the seeds and A_k without the paper's system-prompt tags, with the same settings and the same number of
optimiser steps, each with several training seeds; measured by `humpback likelihood` on held-out human
answers and by the judge (`humpback eval`) against the seeds-only model on the Vicuna questions.

The data, disjoint: the English web pages of ../shared/data (html/trafilatura_en, and on the full budget
the dolma WARCs) as the corpus; the OpenAssistant first-turn rank-0 pairs as the forward models' seeds;
the dolly records and the Self-Instruct seed tasks' first instances as the reference set; the Vicuna
questions for the judge. A training row within the export's 8-word overlap test of a reference or
Vicuna prompt is dropped (and counted). `make etl`'s default pipeline makes the pairs, as it runs them:
`humpback etl`, `seed load` of its seed files (the Makefile's SEEDS), the backward model trained on them
for its BACKWARD_STEPS, `augment`, `curate` (calibrated, k = 4). The forward seeds live in a warehouse
of their own (DIR/forward-seeds), so that neither the backward model nor the calibration sees them.

Everything is kept under DIR and keyed by content, so a rerun only does what is missing: the pipeline's
stages resume, a trained model is found in DIR's warehouse by its rows and settings, and each reference
likelihood is found in DIR/likelihood by model, prompt and pair. The reference set is split in halves by
a hash of each pair: choices are made on `tune`, figures reported on `report`.

    .venv/bin/python -m benchmarks.data_value --out DIR [--budget small|full]

Writes DIR/models/<variant>-<seed>.gguf (each usable as `humpback likelihood --model`) and
DIR/results.json, and prints the table.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import polars as pl
import xxhash

from benchmarks.harness import MAKE_ETL_BACKWARD_STEPS, MAKE_ETL_SEEDS, ROOT, shared_path

VARIANTS = ("seeds", "curated", "random", "all", "curated-untagged")
K, MODE = 4.0, "calibrated"  # `make etl`'s curation: the calibrated mode, A_4


@dataclass(frozen=True)
class Budget:
    pages: int | None  # trafilatura_en pages, in file-name order (None: all)
    warcs: bool  # the dolma WARC files too
    steps: int  # optimiser steps of every forward model (the cpu preset: LoRA, batch 8)
    max_length: int  # tokens of a training row (prompt and completion)
    training_seeds: int
    reference_pairs: int | None  # per source (dolly, Self-Instruct); None: all
    max_output_tokens: int  # of each reference output
    judge_prompts: int
    judge_tokens: int


BUDGETS = {
    "small": Budget(
        pages=70, warcs=False, steps=8, max_length=256, training_seeds=3, reference_pairs=50,
        max_output_tokens=128, judge_prompts=10, judge_tokens=128,
    ),
    "full": Budget(
        pages=None, warcs=True, steps=40, max_length=512, training_seeds=3, reference_pairs=None,
        max_output_tokens=256, judge_prompts=80, judge_tokens=384,
    ),
}  # fmt: skip


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def humpback(*args: str) -> None:
    """One CLI step; each resumes where an earlier run of it stopped."""
    log("humpback " + " ".join(args))
    subprocess.run([sys.executable, "-m", "humpback.cli", *args], check=True, cwd=ROOT)


# The data ----------------------------------------------------------------------------------------------
def corpus(out: Path, budget: Budget) -> list[Path]:
    """The web pages (links into ../shared/data, never copies) and, on the full budget, the WARCs."""
    pages_dir = out / "corpus"
    pages_dir.mkdir(parents=True, exist_ok=True)
    pages = sorted(shared_path("html", "trafilatura_en").glob("*.html.gz"))[: budget.pages]
    for page in pages:
        link = pages_dir / page.name
        if not link.exists():
            link.symlink_to(page)
    inputs = [pages_dir]
    if budget.warcs:
        inputs += sorted(shared_path("warc").glob("dolma_sample-*.warc.gz"))
    return inputs


def reference_set(out: Path, budget: Budget) -> Path:
    """Held-out human pairs as one JSONL file: dolly records, and each Self-Instruct seed task with its
    first instance; `half` is tune or report, by a hash of the pair."""
    from etl.seeds.loaders import read_pair_rows

    frames = []
    for name in ("dolly_subset151_parsed.jsonl", "self_instruct_seed_tasks.jsonl"):
        rows = read_pair_rows(shared_path("seed", name)).filter(pl.col("status") == "ok", pl.col("item") == 0)
        frames.append(rows.head(budget.reference_pairs or rows.height).with_columns(source=pl.lit(name)))
    rows = pl.concat(frames).select(
        id=pl.format("{}:{}", "source", "line"), instruction="instruction", output="output"
    )
    rows = rows.with_columns(half=pl.col("id").map_elements(_half, return_dtype=pl.String))
    path = out / "reference.jsonl"
    rows.write_ndjson(path)
    return path


def _half(key: str) -> str:
    return "tune" if xxhash.xxh3_64_intdigest(key.encode()) % 2 == 0 else "report"


def run_pipeline(out: Path, budget: Budget) -> Path:
    warehouse = out / "warehouse"
    inputs = [str(p) for p in corpus(out, budget)]
    humpback("etl", *inputs, "--warehouse", str(warehouse), "--no-progress")
    humpback("seed", "load", *map(str, MAKE_ETL_SEEDS), "--warehouse", str(warehouse))
    backward = ("--role", "backward", "--preset", "cpu", "--max-steps", str(MAKE_ETL_BACKWARD_STEPS))
    humpback("train", *backward, "--warehouse", str(warehouse), "--no-progress")
    humpback("augment", "--warehouse", str(warehouse), "--no-progress")
    humpback("curate", "--warehouse", str(warehouse), "--mode", MODE, "--no-progress")
    return warehouse


def forward_seeds(out: Path) -> Path:
    """The forward models' seed pairs, in a warehouse of their own: the OpenAssistant pairs."""
    warehouse = out / "forward-seeds"
    humpback(
        "seed", "load", str(shared_path("seed", "oasst_en_100_tree.jsonl")), "--warehouse", str(warehouse)
    )
    return warehouse


def variant_rows(
    warehouse: Path, seeds_warehouse: Path, seed: int, prompts: list[str]
) -> tuple[dict[str, pl.DataFrame], dict]:
    """Each variant's training rows (origin, row_id, system, instruction, output) for one training seed,
    without rows that overlap an evaluation prompt; and what was dropped."""
    from humpback_train.examples import read_rows

    from warehouse.exports import overlaps
    from warehouse.store import Warehouse

    store = Warehouse(warehouse)
    seeds, _ = read_rows(Warehouse(seeds_warehouse), "forward", -1)
    curated, _ = read_rows(store, "forward", 0, K, MODE)
    curated = pl.concat([seeds, curated.filter(pl.col("origin") == "augmented")])
    everything, _ = read_rows(store, "forward", 0, 1.0, MODE)  # k = 1: every scored pair
    augmented = everything.filter(pl.col("origin") == "augmented")
    everything = pl.concat([seeds, augmented])
    size = curated.filter(pl.col("origin") == "augmented").height
    drawn = augmented.sort(
        pl.col("row_id").map_elements(lambda r: xxhash.xxh3_64_intdigest(f"{seed}|{r}".encode()), pl.UInt64)
    ).head(size)
    variants = {
        "seeds": seeds,
        "curated": curated,
        "random": pl.concat([seeds, drawn]),
        "all": everything,
        "curated-untagged": curated.with_columns(system=pl.lit(None, pl.String)),
    }
    dropped = {}
    for name, frame in variants.items():
        hit = overlaps(frame["instruction"], prompts)
        dropped[name] = int(hit.sum())
        variants[name] = frame.filter(~hit).sort("origin", "row_id")
    return variants, dropped


# Training and measuring ----------------------------------------------------------------------------------
def train_variants(
    out: Path, warehouse: Path, seeds_warehouse: Path, budget: Budget, prompts: list[str]
) -> dict[str, dict]:
    """Every variant with every training seed, as DIR/models/<variant>-<seed>.gguf; a model already in the
    warehouse (same rows and settings) is not trained again."""
    from humpback_train.examples import training_data
    from humpback_train.settings import preset
    from humpback_train.train import OUTSIDE_THE_LOOP, train_model

    from warehouse.store import Warehouse

    store = Warehouse(warehouse)
    models_dir = out / "models"
    models_dir.mkdir(exist_ok=True)
    # every seed's rows first: a model registered mid-way must not change what the next one reads
    rows = {
        seed: variant_rows(warehouse, seeds_warehouse, seed, prompts) for seed in range(budget.training_seeds)
    }
    trained: dict[str, dict] = {}
    for seed, (variants, dropped) in rows.items():
        for variant, frame in variants.items():
            name = f"{variant}-{seed}"
            settings = preset("cpu").with_overrides(
                max_steps=budget.steps, max_length=budget.max_length, seed=seed, heldout_fraction=0.0
            )
            data = training_data(frame, f"benchmarks.data_value:{name}", heldout_fraction=0.0)
            started = time.perf_counter()
            row = train_model(
                store,
                "forward",
                OUTSIDE_THE_LOOP,  # not a model of the loop: A_k of iteration 0 stays the pipeline's
                settings=settings,
                data=data,
                name=name,
                show_progress=False,
                log=log,
            )
            target = models_dir / f"{name}.gguf"
            if not target.exists():
                os.link(row["gguf_path"], target)
            trained[name] = {
                "variant": variant,
                "seed": seed,
                "gguf": str(target),
                "rows": frame.height,
                "augmented_rows": frame.filter(pl.col("origin") == "augmented").height,
                "dropped_overlapping": dropped[variant],
                "train_tokens": row["train_tokens"],
                "final_loss": row["final_loss"],
                "seconds": None if row["reused"] else round(time.perf_counter() - started, 1),
            }
            log(f"{name}: {frame.height} rows, {trained[name]['augmented_rows']} augmented")
    return trained


def likelihoods(out: Path, reference: Path, models: dict[str, dict], budget: Budget) -> pl.DataFrame:
    """pair id, half, and one column per model: the mean log-likelihood per output token."""
    from etl.seeds.loaders import read_pair_rows
    from inference.engines import open_engine
    from inference.likelihood import LikelihoodPrompt, compare_models
    from warehouse.store import Warehouse

    rows = read_pair_rows(reference)
    prompt = LikelihoodPrompt.build("combined", budget.max_output_tokens)
    names = list(models)
    comparison = compare_models(
        rows,
        names,
        lambda name: open_engine(models[name]["gguf"], parallel=4, n_ctx=4096),
        Warehouse(out / "likelihood"),
        prompt,
        show_progress=True,
    )
    halves = pl.read_ndjson(reference).select(line=pl.int_range(1, pl.len() + 1, dtype=pl.Int64), half="half")
    values = comparison.ids.join(comparison.summary.pairs, on="pair_key", maintain_order="left")
    return values.join(halves, on="line").filter(pl.col("status") == "ok")


def bootstrap_difference(
    a: np.ndarray, b: np.ndarray, resamples: int = 2000, seed: int = 0
) -> tuple[float, float, float]:
    """Mean of a - b with a 95% percentile interval, resampling training seeds (rows) and pairs (columns):
    a and b are (seeds, pairs) arrays over the same pairs; each side's seeds are drawn on their own."""
    rng = np.random.default_rng(seed)
    point = float(a.mean() - b.mean())
    draws = np.empty(resamples)
    for i in range(resamples):
        pairs = rng.integers(0, a.shape[1], a.shape[1])
        seeds_a = rng.integers(0, a.shape[0], a.shape[0])
        seeds_b = rng.integers(0, b.shape[0], b.shape[0])
        draws[i] = a[np.ix_(seeds_a, pairs)].mean() - b[np.ix_(seeds_b, pairs)].mean()
    low, high = np.percentile(draws, [2.5, 97.5])
    return point, float(low), float(high)


def likelihood_figures(values: pl.DataFrame, models: dict[str, dict], half: str) -> dict[str, dict]:
    chosen = values if half == "all" else values.filter(pl.col("half") == half)
    by_variant = {
        v: np.stack([chosen[name].to_numpy() for name, m in models.items() if m["variant"] == v])
        for v in VARIANTS
    }
    figures = {}
    for variant, array in by_variant.items():
        per_seed = array.mean(axis=1)
        figures[variant] = {
            "mean": float(array.mean()),
            "per_seed": [round(float(x), 5) for x in per_seed],
            "pairs": int(array.shape[1]),
            "vs_seeds": bootstrap_difference(array, by_variant["seeds"]),
            "vs_random": bootstrap_difference(array, by_variant["random"]),
        }
    return figures


def judge(out: Path, warehouse: Path, models: dict[str, dict], budget: Budget) -> dict[str, dict]:
    """Each variant's first training seed against the seeds-only model on the Vicuna questions."""
    from inference.engines import open_engine
    from inference.eval.run import Side, evaluate
    from inference.sampling import Sampling
    from warehouse.store import Warehouse

    vicuna = shared_path("eval", "vicuna_bench_question.jsonl")
    sampling = Sampling(temperature=0.7, top_p=0.9, max_new_tokens=budget.judge_tokens)
    reference = models["seeds-0"]["gguf"]
    results = {}
    for variant in VARIANTS[1:]:
        log(f"judge: {variant}-0 against seeds-0 on {budget.judge_prompts} Vicuna questions")
        report = evaluate(
            Warehouse(warehouse),
            vicuna,
            Side(model=models[f"{variant}-0"]["gguf"]),
            Side(model=reference),
            lambda model, server: open_engine(model, server, parallel=4, n_ctx=4096),
            sampling=sampling,
            limit=budget.judge_prompts,
            show_progress=True,
        )
        overall = (
            report.summary.filter(pl.col("category") == "all").to_dicts()[0]
            if report.summary is not None
            else {}
        )
        results[variant] = {k: v for k, v in overall.items() if k != "category"}
    return results


def evaluation_prompts(reference: Path) -> list[str]:
    from warehouse.exports import load_prompts

    return load_prompts(reference) + load_prompts(shared_path("eval", "vicuna_bench_question.jsonl"))


def record(
    warehouse: Path, budget_name: str, budget: Budget, models: dict, halves: dict, judged: dict
) -> str:
    """The figures as rows of the warehouse's `data_value` table, where `humpback report` shows them."""
    from datetime import UTC, datetime

    import pyarrow as pa

    from warehouse.schemas import DATA_VALUE
    from warehouse.store import Warehouse

    run_id = xxhash.xxh3_128_hexdigest(json.dumps([budget_name, asdict(budget), sorted(models)]).encode())
    rows = []
    for half, figures in halves.items():
        for variant, f in figures.items():
            first = models[f"{variant}-0"]
            j = judged.get(variant, {})
            rows.append(
                {
                    "run_id": run_id,
                    "budget": budget_name,
                    "half": half,
                    "variant": variant,
                    "training_seeds": budget.training_seeds,
                    "steps": budget.steps,
                    "train_rows": first["rows"],
                    "augmented_rows": first["augmented_rows"],
                    "pairs": f["pairs"],
                    "mean": f["mean"],
                    **dict(zip(("vs_seeds", "vs_seeds_low", "vs_seeds_high"), f["vs_seeds"], strict=True)),
                    **dict(
                        zip(("vs_random", "vs_random_low", "vs_random_high"), f["vs_random"], strict=True)
                    ),
                    "judge_win_rate": j.get("win_rate"),
                    "judge_ci_low": j.get("ci_low"),
                    "judge_ci_high": j.get("ci_high"),
                    "judge_prompts": j.get("prompts"),
                    "created_at": datetime.now(UTC),
                }
            )
    store = Warehouse(warehouse)
    with store.exclusive():
        store.append_part("data_value", pa.Table.from_pylist(rows, schema=DATA_VALUE), run_id)
    return run_id


def print_table(figures: dict[str, dict], judged: dict[str, dict], half: str) -> None:
    print(f"\nreference likelihood ({half} half), mean log-likelihood per output token")
    print("(differences with 95% intervals over pairs and training seeds; the judge's win rate, ties half)")
    print(f"{'variant':<17} {'mean':>8} {'vs seeds':>26} {'vs random':>26} {'judge vs seeds':>22}")
    for variant, f in figures.items():
        d_s, d_r = f["vs_seeds"], f["vs_random"]
        j = judged.get(variant, {})
        rate = (
            f"{j['win_rate']:.2f} [{j['ci_low']:.2f}, {j['ci_high']:.2f}]"
            if j.get("win_rate") is not None
            else ""
        )
        print(
            f"{variant:<17} {f['mean']:8.4f} {d_s[0]:+8.4f} [{d_s[1]:+.4f}, {d_s[2]:+.4f}] "
            f"{d_r[0]:+8.4f} [{d_r[1]:+.4f}, {d_r[2]:+.4f}] {rate:>22}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--budget", choices=tuple(BUDGETS), default="small")
    parser.add_argument("--no-judge", action="store_true", help="the likelihood measure only")
    args = parser.parse_args()
    budget = BUDGETS[args.budget]
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    reference = reference_set(out, budget)
    warehouse = run_pipeline(out, budget)
    models = train_variants(out, warehouse, forward_seeds(out), budget, evaluation_prompts(reference))
    values = likelihoods(out, reference, models, budget)
    halves = {half: likelihood_figures(values, models, half) for half in ("tune", "report", "all")}
    judged = {} if args.no_judge else judge(out, warehouse, models, budget)
    results = {
        "budget": args.budget,
        "settings": asdict(budget) | {"k": K, "mode": MODE, "preset": "cpu"},
        "pipeline": {
            "seeds": models["seeds-0"]["rows"],
            "scored_pairs": models["all-0"]["augmented_rows"],
            "curated_pairs": models["curated-0"]["augmented_rows"],
        },
        "models": models,
        "likelihood": halves,
        "judge": judged,
        "seconds": round(time.perf_counter() - started, 1),
    }
    results["run_id"] = record(warehouse, args.budget, budget, models, halves, judged)
    (out / "results.json").write_text(json.dumps(results, indent=1) + "\n")
    print_table(halves["report"], judged, "report")
    print(f"\npipeline: {results['pipeline']}; {results['seconds'] / 60:.1f} min; {out / 'results.json'}")
    print(f"the report shows them: humpback report --warehouse {warehouse}")


if __name__ == "__main__":
    main()
