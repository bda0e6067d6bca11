"""Training throughput of the `cpu` preset (LoRA, batch 8), before and after the loss was computed at the
completion positions alone, and with batches grouped by length; with the held-out log-likelihood gain
each arm learns, so that faster never means learning less.

The arms:
* `union-random`: what training did before: the output layer at every position where any row of the
  micro-batch has a completion token (`logits_to_keep`), random batches;
* `gathered-random`: the decoder's hidden states gathered at each row's completion positions and projected
  in checkpointed slices, random batches;
* `gathered-grouped`: the same, with batches of similar lengths (less padding);
* `gathered-grouped-bf16`: the same, with the matrix products in bf16 (autocast; weights and optimiser
  in float32): the `cpu` preset's default where the CPU computes bf16 natively.

Each run is its own process (its peak resident memory is its own): the embedded base model, the backward
model's rows (output -> instruction, what `make etl` trains first) of the real OpenAssistant seeds in
../shared/data, `--steps` optimiser steps, then the mean log-likelihood per token of held-out rows before
and after. Runs alternate between the arms; medians are printed, with the ratio to `union-random`.

    .venv/bin/python -m benchmarks.training_throughput [--repeats 3] [--steps 6] [--arms a,b]
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
ARMS = ("union-random", "gathered-random", "gathered-grouped", "gathered-grouped-bf16")
HELDOUT = 16


def union_completion_loss(model, inputs: dict, num_items_in_batch: int | None = None):
    """The loss as training computed it before: logits at the union of the batch's completion positions."""
    import torch

    labels = inputs["labels"]
    targets = labels[:, 1:]
    positions = torch.nonzero((targets != -100).any(dim=0)).flatten()
    outputs = model(
        input_ids=inputs["input_ids"], attention_mask=inputs.get("attention_mask"), logits_to_keep=positions
    )
    logits = outputs.logits.float()
    picked = targets[:, positions]
    total = torch.nn.functional.cross_entropy(
        logits.reshape(-1, logits.shape[-1]), picked.reshape(-1), ignore_index=-100, reduction="sum"
    )
    count = num_items_in_batch if num_items_in_batch is not None else (picked != -100).sum()
    return total / count


def one_run(arm: str, steps: int) -> dict[str, float]:
    from humpback_train import fit as fitting
    from humpback_train.base_model import load_model, load_tokenizer, resolve_base
    from humpback_train.encoding import encode
    from humpback_train.examples import build_training_data
    from humpback_train.loglik import torch_loglik
    from humpback_train.settings import preset

    from etl.seeds.table import add_seeds
    from warehouse.store import Warehouse

    if arm.startswith("union"):
        fitting.completion_loss = union_completion_loss
    settings = preset("cpu").with_overrides(
        max_steps=steps,
        length_grouped="grouped" in arm,
        mixed_precision="bf16" if arm.endswith("bf16") else "no",
    )
    with tempfile.TemporaryDirectory() as tmp:
        warehouse = Warehouse(Path(tmp) / "wh")
        add_seeds(warehouse, [OASST])
        data = build_training_data(warehouse, "backward", heldout_fraction=0.5, heldout_max=HELDOUT)
        base = resolve_base()
        tokenizer = load_tokenizer(base)
        train = encode(tokenizer, data.train["prompt"], data.train["completion"], settings.max_length)
        heldout = encode(tokenizer, data.heldout["prompt"], data.heldout["completion"], settings.max_length)
        model = load_model(base)
        before = torch_loglik(model, heldout.input_ids, heldout.completion_mask)
        result = fitting.fit(model, tokenizer, train, settings, Path(tmp) / "work", show_progress=False)
        after = torch_loglik(result.model, heldout.input_ids, heldout.completion_mask)
    return {
        "tokens_per_second": result.tokens_per_second,
        "seconds_per_step": result.seconds / result.steps,
        "tokens": result.train_tokens,
        "heldout_gain": after - before,
        "final_loss": result.final_loss or float("nan"),
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--arms", default=",".join(ARMS))
    parser.add_argument("--child", choices=ARMS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(one_run(args.child, args.steps)))
        return
    if not OASST.is_file():
        sys.exit(f"the shared seed data is missing: {OASST}")
    arms = args.arms.split(",")
    results: dict[str, list[dict[str, float]]] = {arm: [] for arm in arms}
    for repeat in range(args.repeats):
        for arm in arms:
            run = in_child("benchmarks.training_throughput", "--child", arm, "--steps", str(args.steps))
            results[arm].append(run)
            print(
                f"repeat {repeat + 1} {arm:<17} {run['tokens_per_second']:7.1f} tok/s  "
                f"{run['seconds_per_step']:6.1f} s/step  gain {run['heldout_gain']:+.4f}  "
                f"peak {run['peak_rss_mib']:,.0f} MiB",
                flush=True,
            )
    reference = median([r["tokens_per_second"] for r in results[arms[0]]])
    print(f"\ncpu preset, {args.steps} steps, medians of {args.repeats}; ratio of tokens/s to {arms[0]}")
    print(f"{'arm':<17} {'tok/s':>8} {'s/step':>7} {'ratio':>6} {'held-out gain':>14} {'peak MiB':>9}")
    for arm, runs in results.items():
        speed = median([r["tokens_per_second"] for r in runs])
        print(
            f"{arm:<17} {speed:8.1f} {median([r['seconds_per_step'] for r in runs]):7.1f} "
            f"{speed / reference:6.2f} {median([r['heldout_gain'] for r in runs]):+14.4f} "
            f"{median([r['peak_rss_mib'] for r in runs]):9,.0f}"
        )


if __name__ == "__main__":
    main()
