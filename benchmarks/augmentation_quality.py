"""Benchmark: how well self-augmentation writes the instruction a text answers, per option, and how fast.

Held-out human pairs from `../shared/data/seed/` (OpenAssistant first turns with their rank-0 reply,
dolly records, Self-Instruct instances; the `report` split of the curation benchmark, outputs of at
least `--min-words` words, none of them a seed of the prompt) stand in for segments whose instruction
is known. For every option, the backward model writes an instruction for each output, and the run
prints side by side:

* the share of rows per status (`ok`, `copied_example`, `empty`, `no_stop`, `too_long`, ...);
* answer retrieval: how often the instruction picks its own output out of 5 (its own and 4 other
  held-out outputs, the same for every option) by the likelihood gain, log p(output | instruction) -
  log p(output) over the output's first 16 tokens; a row without an instruction counts as a miss. The
  same figure for the true human instructions is the ceiling, and `fit` is the ratio;
* `copies`: the share of rows whose instruction shares 8 words in a row with its output. The gain
  rewards an instruction that gives its answer away, so an option that ranks by it is checked here;
  the true instructions' share is the reference (a Self-Instruct input or a dolly context does it);
* ROUGE-L of the instruction against the true one, and the median length in words (true: the
  held-out instructions');
* rows per second (drawing, resampling and ranking; not the retrieval measurement) and the ratio to
  one plain draw.

Options: `few-shot` (one draw per row: what augmentation did before), `resample xN` (up to N rounds
for rows whose draws failed), `best of K` (K draws from one reading of the prompt, the one with the
highest gain kept) and their combination; `--backward-model GGUF` adds the same options for a
fine-tuned backward model (`humpback train`), prompted in its chat format.

    .venv/bin/python -m benchmarks.augmentation_quality                 # 120 rows, embedded model
    .venv/bin/python -m benchmarks.augmentation_quality --rows 40 --options few-shot,best-of-4x2
    .venv/bin/python -m benchmarks.augmentation_quality --backward-model warehouse/models/backward.gguf
"""

from __future__ import annotations

import argparse
import difflib
import json
import statistics
import sys
import time
from pathlib import Path

import polars as pl

from benchmarks.harness import ROOT as REPO  # and the repository on the import path
from benchmarks.harness import SHARED_DATA as DATA
from etl.seeds.loaders import load_embedded_seeds, load_seed_file
from inference.augment import cut_input
from inference.curation.labelled import split_expr
from inference.engines import open_engine
from inference.gain import logp_alone, logp_given
from inference.instructions import Drawing, write_instructions
from inference.prompts.backtranslate import build_backtranslate_prompt, build_chat_backtranslate_prompt
from inference.prompts.rating import build_rating_prompt
from inference.sampling import Sampling
from inference.self_instruct.novelty import rouge_l, rouge_tokens

SEED_FILES = ("oasst_en_100_tree.jsonl", "dolly_subset151_parsed.jsonl", "self_instruct_seed_tasks.jsonl")
FIGURES = REPO / "warehouse" / "report" / "augmentation_benchmark.json"
CHOICES = 5  # an output and 4 others
TARGET_FAILURES = 0.03  # copied_example + empty + no_stop
TARGET_FIT = 0.85  # of the true instructions' retrieval
TARGET_SPEED = 0.5  # of one plain draw's rows per second
FAILURES = ("copied_example", "empty", "no_stop")
COPY_WORDS = 8  # a run of this many words shared with the output: the instruction copies its answer
OPTIONS = {
    "few-shot": Drawing(candidates=1, attempts=1),
    "resample-x3": Drawing(candidates=1, attempts=3),
    "best-of-2x2": Drawing(candidates=2, attempts=2),
    "best-of-3x2": Drawing(candidates=3, attempts=2),
    "best-of-4": Drawing(candidates=4, attempts=1),
    "best-of-4x2": Drawing(candidates=4, attempts=2),
    "best-of-5x2": Drawing(candidates=5, attempts=2),
    "best-of-6x2": Drawing(candidates=6, attempts=2),
    # the fine-tuned backward model's default (inference/augment.py: DRAWINGS["chat"])
    "best-of-4x2-cover1-floor1": Drawing(candidates=4, attempts=2, coverage_weight=1.0, floor=1.0),
}


def held_out(data: Path, min_words: int, rows: int, exclude: set[str], split: str = "report") -> pl.DataFrame:
    """Report-split human pairs with outputs of at least `min_words` words, in an order fixed by a
    hash, without the prompt's own seeds: pair_id, instruction, output, source_format."""
    pairs = pl.concat([load_seed_file(data / "seed" / name).frame() for name in SEED_FILES])
    return (
        pairs.filter(
            split_expr(pl.col("instruction")) == split,
            pl.col("output").str.count_matches(r"\S+") >= min_words,
            ~pl.col("instruction").str.strip_chars().is_in(list(exclude)),
        )
        .unique("seed_id", keep="first")
        .sort(pl.col("seed_id").hash(seed=5), "seed_id")
        .head(rows)
        .select(pair_id="seed_id", instruction="instruction", output="output", source_format="source_format")
    )


def retrieval(engine, gain_prompt, instructions: list[str | None], outputs: list[str], alone) -> list[bool]:
    """For each row, whether its instruction makes its own output the likeliest of `CHOICES` by gain:
    row i against rows i+1 .. i+4 (cyclically), each output's gain against its own `alone`."""
    n = len(outputs)
    asked = [(i, (i + k) % n) for i in range(n) if instructions[i] for k in range(CHOICES)]
    given = logp_given(
        engine, gain_prompt, [instructions[i] for i, _ in asked], [outputs[j] for _, j in asked]
    )
    best: dict[int, tuple[float, int]] = {}
    for (i, j), (logp, tokens) in zip(asked, given, strict=True):
        gain = (logp - alone[j][0]) / max(tokens, 1)
        if i not in best or gain > best[i][0]:
            best[i] = (gain, j)
    return [i in best and best[i][1] == i for i in range(n)]


def copied_run(instruction: str, output: str) -> int:
    """The longest run of words an instruction shares with its output, verbatim (lowercased)."""
    a, b = rouge_tokens(instruction), rouge_tokens(output)
    return difflib.SequenceMatcher(None, a, b, autojunk=False).find_longest_match(0, len(a), 0, len(b)).size


def copies(instructions: list[str | None], outputs: list[str]) -> float:
    """The share of rows whose instruction shares `COPY_WORDS` words in a row with its output. The
    likelihood gain rewards an instruction that gives its answer away, so the ranking is checked
    against this; true instructions do it too (a Self-Instruct input, a dolly context)."""
    found = [bool(i) and copied_run(i, o) >= COPY_WORDS for i, o in zip(instructions, outputs, strict=True)]
    return sum(found) / len(found)


def run_option(
    engine, prompt, drawing: Drawing, rows: pl.DataFrame, gain_prompt, examples, batch: int, judge
):
    sampling = Sampling()
    texts = cut_input(rows["output"], sampling.max_input_chars)["text"].to_list()
    keys = rows["pair_id"].to_list()
    parts = []
    started = time.perf_counter()
    for offset in range(0, len(texts), batch):
        parts.append(
            write_instructions(
                engine,
                prompt,
                texts[offset : offset + batch],
                keys[offset : offset + batch],
                sampling,
                drawing,
                examples=examples,
                gain_prompt=gain_prompt,
                judge=judge,
            )
        )
        print(f"    {min(offset + batch, len(texts))}/{len(texts)}", end="\r", flush=True)
    seconds = time.perf_counter() - started
    return pl.concat(parts), seconds


def summarise(written: pl.DataFrame, rows: pl.DataFrame, hits: list[bool], seconds: float) -> dict:
    statuses = written["status"].value_counts()
    shares = {s: c / written.height for s, c in zip(statuses["status"], statuses["count"], strict=True)}
    instructions = written["instruction"].to_list()
    rouge = [
        rouge_l(rouge_tokens(true), rouge_tokens(made))
        for true, made in zip(rows["instruction"], instructions, strict=True)
        if made
    ]
    words = [len(made.split()) for made in instructions if made]
    draws = written["attempt_seeds"].list.len()
    return {
        "statuses": shares,
        "failures": sum(shares.get(s, 0.0) for s in FAILURES),
        "retrieval": sum(hits) / len(hits),
        "copies": copies(instructions, rows["output"].to_list()),
        "rouge_l": statistics.mean(rouge) if rouge else 0.0,
        "words": statistics.median(words) if words else 0.0,
        "draws_per_row": float(draws.mean()),
        "seconds": seconds,
        "rows_per_second": written.height / seconds,
    }


def true_instructions(judge, rows: pl.DataFrame, gain_prompt, alone) -> dict:
    """The ceiling: retrieval with the held-out pairs' own instructions."""
    outputs = cut_input(rows["output"], Sampling().max_input_chars)["text"].to_list()
    hits = retrieval(judge, gain_prompt, rows["instruction"].to_list(), outputs, alone)
    return {
        "retrieval": sum(hits) / len(hits),
        "copies": copies(rows["instruction"].to_list(), rows["output"].to_list()),
        "words": statistics.median(len(x.split()) for x in rows["instruction"]),
    }


def measure(
    engine, judge, prompt, drawing: Drawing, rows: pl.DataFrame, gain_prompt, examples, alone, batch: int = 32
) -> dict:
    """One option's figures: `engine` draws with `prompt`, `judge` ranks and measures."""
    outputs = cut_input(rows["output"], Sampling().max_input_chars)["text"].to_list()
    written, seconds = run_option(engine, prompt, drawing, rows, gain_prompt, examples, batch, judge)
    hits = retrieval(judge, gain_prompt, written["instruction"].to_list(), outputs, alone)
    return summarise(written, rows, hits, seconds) | {"drawing": drawing.label}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=120)
    parser.add_argument("--min-words", type=int, default=10)
    parser.add_argument("--split", default="report", choices=("tune", "report"))
    parser.add_argument("--examples", type=int, default=3, help="seed pairs in the few-shot prompt")
    parser.add_argument("--any-examples", action="store_true", help="examples not chosen for prose")
    parser.add_argument("--options", default=",".join(OPTIONS))
    parser.add_argument("--backward-model", type=Path, help="a fine-tuned backward model's GGUF")
    parser.add_argument(
        "--skip-base", action="store_true", help="with --backward-model: measure only the fine-tuned model"
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--parallel", type=int, default=8)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--out", type=Path, help="write the figures as JSON")
    parser.add_argument(
        "--record", action="store_true", help=f"also write them to {FIGURES.relative_to(REPO)}"
    )
    args = parser.parse_args()
    if not DATA.is_dir():
        sys.exit(f"the shared data is not at {DATA}")

    seeds = load_embedded_seeds().frame()
    few_shot = build_backtranslate_prompt(seeds, args.examples, prose=not args.any_examples)
    examples = frozenset(
        seeds.filter(pl.col("seed_id").is_in(list(few_shot.seed_ids)))["instruction"].str.strip_chars()
    )
    rows = held_out(DATA, args.min_words, args.rows, set(seeds["instruction"].str.strip_chars()), args.split)
    print(f"held-out pairs: {rows.height} ({dict(rows['source_format'].value_counts().iter_rows())})")
    gain_prompt = build_rating_prompt("direct")
    if args.skip_base and not args.backward_model:
        parser.error("--skip-base needs --backward-model")
    models = [] if args.skip_base else [("base", None, few_shot)]
    if args.backward_model:
        models.append(("fine-tuned", args.backward_model, build_chat_backtranslate_prompt()))
    outputs = cut_input(rows["output"], Sampling().max_input_chars)["text"].to_list()
    results: dict[str, dict] = {}
    judge = open_engine(parallel=args.parallel, threads=args.threads, n_ctx=16384)  # measures every option
    try:
        alone = logp_alone(judge, gain_prompt, outputs)
        results["true instructions"] = true_instructions(judge, rows, gain_prompt, alone)
        ceiling = results["true instructions"]["retrieval"]
        for model_name, path, prompt in models:
            engine = (
                judge if path is None else open_engine(path, parallel=args.parallel, threads=args.threads)
            )
            try:
                for option in args.options.split(","):
                    name = f"{model_name} {option}"
                    r = results[name] = measure(
                        engine, judge, prompt, OPTIONS[option], rows, gain_prompt, examples, alone, args.batch
                    )
                    print(
                        f"  {name}: retrieval {r['retrieval']:.3f}, failures {r['failures']:.3f}, "
                        f"{r['rows_per_second']:.2f} rows/s"
                    )
            finally:
                if engine is not judge:
                    engine.close()
    finally:
        judge.close()
    plain = next((r["rows_per_second"] for n, r in results.items() if n.endswith("few-shot")), None)
    print(f"\n{rows.height} held-out pairs; retrieval out of {CHOICES} (chance {1 / CHOICES:.2f})")
    statuses = sorted({s for r in results.values() for s in r.get("statuses", {})})
    header = [
        "option",
        *statuses,
        "failures",
        "retrieval",
        "fit",
        "copies",
        "ROUGE-L",
        "words",
        "draws",
        "rows/s",
        "speed",
    ]
    table = []
    for name, r in results.items():
        fit = r["retrieval"] / ceiling if ceiling else 0.0
        speed = r["rows_per_second"] / plain if plain and "rows_per_second" in r else None
        table.append(
            [
                name,
                *(f"{r['statuses'].get(s, 0.0):.3f}" if "statuses" in r else "-" for s in statuses),
                f"{r['failures']:.3f}" if "failures" in r else "-",
                f"{r['retrieval']:.3f}",
                f"{fit:.2f}",
                f"{r['copies']:.3f}",
                f"{r['rouge_l']:.3f}" if "rouge_l" in r else "-",
                f"{r['words']:.0f}",
                f"{r['draws_per_row']:.2f}" if "draws_per_row" in r else "-",
                f"{r['rows_per_second']:.2f}" if "rows_per_second" in r else "-",
                f"{speed:.2f}x" if speed else "-",
            ]
        )
    table.append(
        [
            "target",
            *("" for _ in statuses),
            f"<={TARGET_FAILURES}",
            "",
            f">={TARGET_FIT}",
            "",
            "",
            "",
            "",
            "",
            f">={TARGET_SPEED}x",
        ]
    )
    widths = [max(len(str(x)) for x in col) for col in zip(header, *table, strict=True)]
    for line in (header, *table):
        print("  ".join(str(x).rjust(w) for x, w in zip(line, widths, strict=True)))
    record = {
        "rows": rows.height,
        "threads": args.threads,
        "ceiling": ceiling,
        "options": results,
        "measured_at": time.strftime("%Y-%m-%d"),
    }
    if args.out:
        args.out.write_text(json.dumps(record, indent=2, sort_keys=True))
    if args.record:
        FIGURES.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
