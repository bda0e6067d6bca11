"""Training throughput and peak memory on the CPU, LoRA against full fine-tuning, tiny configuration.

Each run is its own process (so its peak resident memory is its own): it loads the embedded base model,
trains the forward model on the real OpenAssistant seed pairs from ../shared/data for the tiny preset's
steps, and reports tokens per second (tokens the steps trained on, padding excluded) and peak RSS.
Runs alternate between the methods; the medians and their ratio are printed.

    .venv/bin/python -m benchmarks.training_lora_vs_full [--repeats 3] [--steps 8]
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
from pathlib import Path

from benchmarks.harness import SHARED_DATA, in_child, median

OASST = SHARED_DATA / "seed" / "oasst_en_100_tree.jsonl"


def one_run(method: str, steps: int) -> dict[str, float]:
    from humpback_train.base_model import load_model, load_tokenizer, resolve_base
    from humpback_train.encoding import encode
    from humpback_train.examples import build_training_data
    from humpback_train.fit import fit
    from humpback_train.settings import preset

    from etl.seeds.table import add_seeds
    from warehouse.store import Warehouse

    with tempfile.TemporaryDirectory() as tmp:
        warehouse = Warehouse(Path(tmp) / "wh")
        add_seeds(warehouse, [OASST])
        data = build_training_data(warehouse, "forward").train
        base = resolve_base()
        tokenizer = load_tokenizer(base)
        settings = preset("tiny").with_overrides(method=method, max_steps=steps)
        if method == "full":  # the paper's optimiser settings at the tiny preset's size
            settings = settings.with_overrides(learning_rate=1e-5, final_lr_ratio=0.9, weight_decay=0.1)
        rows = encode(tokenizer, data["prompt"], data["completion"], settings.max_length)
        model = load_model(base)
        loaded_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        result = fit(model, tokenizer, rows, settings, Path(tmp) / "work", show_progress=False)
    return {
        "tokens_per_second": result.tokens_per_second,
        "seconds": result.seconds,
        "tokens": result.train_tokens,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "rss_after_load_mib": loaded_rss,
        "trainable": sum(p.numel() for p in result.model.parameters()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--child", choices=["lora", "full"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(one_run(args.child, args.steps)))
        return
    if not OASST.is_file():
        sys.exit(f"the shared seed data is missing: {OASST}")
    results: dict[str, list[dict[str, float]]] = {"lora": [], "full": []}
    for repeat in range(args.repeats):
        for method in results:
            run = in_child("benchmarks.training_lora_vs_full", "--child", method, "--steps", str(args.steps))
            results[method].append(run)
            print(
                f"run {repeat + 1} {method:<4}: {run['tokens_per_second']:6.1f} tok/s "
                f"({run['tokens']:,} tokens in {run['seconds']:.1f} s), "
                f"peak RSS {run['peak_rss_mib']:,.0f} MiB",
                flush=True,
            )
    medians = {
        method: {key: median(r[key] for r in runs) for key in ("tokens_per_second", "peak_rss_mib")}
        for method, runs in results.items()
    }
    print(f"\ntiny preset, {args.steps} steps of 4 examples x up to 128 tokens, medians of {args.repeats}:")
    for method, m in medians.items():
        print(
            f"  {method:<4}  {m['tokens_per_second']:7.1f} tokens/s   peak RSS {m['peak_rss_mib']:7,.0f} MiB"
        )
    lora, full = medians["lora"], medians["full"]
    print(
        f"  LoRA / full: throughput {lora['tokens_per_second'] / full['tokens_per_second']:.2f}x, "
        f"peak memory {lora['peak_rss_mib'] / full['peak_rss_mib']:.2f}x"
    )


if __name__ == "__main__":
    main()
