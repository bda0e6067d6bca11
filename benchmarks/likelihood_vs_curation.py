"""`humpback likelihood` against the curation stage's likelihood signals, on the same pairs and model.

Both read every pair in one prefill on the embedded model: the reference likelihood reads the
instruction and the output (its first 256 tokens scored) under the chat format's cached head; the
calibrated curation reads the rating row (rubric prefix cached, the request, the whole answer, the
closing line and the score candidates) and the answer alone. The target: the likelihood within 1.5x of
the curation signals' time. Runs alternate; medians are printed, with the ratio.

    .venv/bin/python -m benchmarks.likelihood_vs_curation [--pairs 100] [--repeats 3]
"""

from __future__ import annotations

import argparse

from benchmarks.harness import alternate, median, shared_path

BATCH = 16


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pairs", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    from etl.seeds.loaders import read_pair_rows
    from inference.curation.signals import model_signals
    from inference.engines import open_engine
    from inference.likelihood import LikelihoodPrompt, measure
    from inference.prompts.rating import build_rating_prompt

    rows = read_pair_rows(shared_path("seed", "dolly_subset151_parsed.jsonl")).filter(status="ok")
    rows = rows.head(args.pairs)
    instructions, outputs = rows["instruction"].to_list(), rows["output"].to_list()
    batches = [(instructions[i : i + BATCH], outputs[i : i + BATCH]) for i in range(0, len(rows), BATCH)]
    engine = open_engine(parallel=4, n_ctx=16384)
    reference = LikelihoodPrompt.build("combined")
    rating = build_rating_prompt("direct")  # the calibrated mode reads the direct rating row
    tokens: dict[str, int] = {}

    def likelihood() -> None:
        read = [measure(engine, reference, i, o) for i, o in batches]
        tokens["likelihood"] = sum(int(f["uncached_tokens"].sum()) for f in read)

    def curation() -> None:
        read = [model_signals(engine, rating, i, o) for i, o in batches]
        tokens["curation signals"] = sum(int(f["uncached_tokens"].sum()) for f in read)

    try:
        seconds, _ = alternate({"likelihood": likelihood, "curation signals": curation}, args.repeats)
    finally:
        engine.close()
    base = median(seconds["curation signals"])
    print(f"\n{len(rows)} dolly pairs, embedded model, medians of {args.repeats} runs")
    print(f"{'approach':<18} {'seconds':>8} {'tokens read':>12} {'ratio':>6}")
    for name, runs in seconds.items():
        print(f"{name:<18} {median(runs):8.1f} {tokens[name]:12,} {median(runs) / base:6.2f}")
    print("target: likelihood within 1.5x of the curation signals")


if __name__ == "__main__":
    main()
