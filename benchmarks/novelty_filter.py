"""Self-Instruct's ROUGE-L novelty filter: the indexed filter against the exhaustive rouge-score one.

The pool starts as the 175 human-written Self-Instruct seed instructions (../shared/data/seed). The
candidates are 10,000 instructions made here from them by controlled word edits: each picks a seed and
makes 1 to 12 edits (a word replaced, deleted or inserted, from the seeds' own vocabulary), so a
variant's distance to its seed is known and the filter's expected behaviour is too: one edit of a
ten-word instruction stays above 0.7, many edits do not.

Both filters take the candidates in the same order, keep one when no text in the pool (seeds and the
candidates kept so far) has a ROUGE-L F above 0.7 with it, and add it to the pool. The exhaustive
filter is Self-Instruct's: rouge-score's RougeScorer against every pool text, the max compared with 0.7
(given tokens computed once, which only makes it faster). Runs alternate; the medians are printed.

    .venv/bin/python -m benchmarks.novelty_filter [--candidates 10000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import random
import sys

from rouge_score import rouge_scorer

from benchmarks.harness import alternate, print_ratio, print_timings, ratio, shared_path
from common.jsonl import objects
from inference.self_instruct.novelty import THRESHOLD, filter_novel, rouge_l, rouge_tokens


def seed_instructions() -> list[str]:
    path = shared_path("seed", "self_instruct_seed_tasks.jsonl")
    return [record["instruction"] for _, record in objects(path)]


def variants(seeds: list[str], n: int, rng: random.Random) -> tuple[list[str], list[int], list[int]]:
    """n edited copies of the seeds: (texts, seed index of each, edits made to each)."""
    vocabulary = sorted({w for s in seeds for w in s.split()})
    texts, parents, edits = [], [], []
    for _ in range(n):
        parent = rng.randrange(len(seeds))
        words = seeds[parent].split()
        k = rng.randint(1, 12)
        for _ in range(k):
            op = rng.choice(("replace", "delete", "insert")) if len(words) > 2 else "insert"
            at = rng.randrange(len(words))
            if op == "replace":
                words[at] = rng.choice(vocabulary)
            elif op == "delete":
                del words[at]
            else:
                words.insert(at, rng.choice(vocabulary))
        texts.append(" ".join(words))
        parents.append(parent)
        edits.append(k)
    return texts, parents, edits


def exhaustive(pool: list[str], candidates: list[str]) -> tuple[list[bool], int]:
    """Self-Instruct's filter with rouge-score: every candidate against every pool text."""
    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
    tokenize = scorer._tokenizer.tokenize  # the scorer's own tokenizer, applied once per text
    pool_tokens = [tokenize(t) for t in pool]
    kept, pairs = [], 0
    for text in candidates:
        tokens = tokenize(text)
        best = max((rouge_scorer._score_lcs(tokens, other).fmeasure for other in pool_tokens), default=0.0)
        pairs += len(pool_tokens)
        kept.append(best <= THRESHOLD)
        if best <= THRESHOLD:
            pool_tokens.append(tokens)
    return kept, pairs


def indexed(pool: list[str], candidates: list[str]) -> list[bool]:
    return [d.kept for d in filter_novel(pool, candidates)]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--candidates", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    seeds = seed_instructions()
    candidates, parents, edits = variants(seeds, args.candidates, random.Random(args.seed))
    pairs = 0  # set by the exhaustive run: the comparisons it made

    def run_exhaustive() -> list[bool]:
        nonlocal pairs
        kept, pairs = exhaustive(seeds, candidates)
        return kept

    times, results = alternate(
        {"exhaustive rouge-score": run_exhaustive, "indexed": lambda: indexed(seeds, candidates)},
        args.repeats,
        same_result=True,
    )
    fast, slow = results["indexed"], results["exhaustive rouge-score"]
    print(f"pool: {len(seeds)} seed instructions; candidates: {len(candidates):,} edited copies")
    print(f"exhaustive comparisons per run: {pairs:,}")
    print_timings(times)
    print_ratio("speed-up", ratio(times["exhaustive rouge-score"], times["indexed"]), ">= 20x")
    print(f"kept: indexed {sum(fast):,}, exhaustive {sum(slow):,}; identical kept sets: {fast == slow}")
    # The known near-copies: variants still above the threshold with their own seed, which is in the pool.
    near = [
        rouge_l(rouge_tokens(c), rouge_tokens(seeds[p])) > THRESHOLD
        for c, p in zip(candidates, parents, strict=True)
    ]
    dropped = sum(1 for n, kept in zip(near, fast, strict=True) if n and not kept)
    print(f"near-copies of their own seed: {sum(near):,}; dropped: {dropped:,} (must be all)")
    print("kept share by number of edits (the near-copies are the few-edit ones):")
    for k in range(1, 13):
        chosen = [kept for kept, e in zip(fast, edits, strict=True) if e == k]
        print(f"  {k:2d} edits: {len(chosen):5d} candidates, {sum(chosen) / len(chosen):6.1%} kept")
    if fast != slow or dropped != sum(near):
        sys.exit("the kept sets differ, or a near-copy was kept")


if __name__ == "__main__":
    main()
