"""Self-Instruct's novelty filter: a new instruction is dropped when its ROUGE-L F-measure with any
instruction already in the pool is above 0.7, with decisions identical to comparing it with all of them.

The original compares each new instruction with the whole pool, O(N^2) LCS computations. Here an
inverted index finds the few instructions that could be that similar, and only those are scored:

- ROUGE-L's F is 2 L / (m + n) for an LCS of L tokens between texts of m and n tokens, and L is at
  most min(m, n). F > t therefore needs n > t m / (2 - t), and then L > t m / (2 - t): a text of m
  tokens must share at least tau(m) = ceil(t m / (2 - t)) tokens (0.54 m at t = 0.7) with any text it
  is too similar to. The LCS is a common sub-multiset, so the shared tokens are a lower bound.
- Prefix filtering (the AllPairs / PPJoin family of set-similarity joins): order all tokens by one
  global order, rarest first, and count repeated tokens as distinct elements (the, the#2...). Two
  multisets that share T elements share an element among their first |x| - T + 1 (and |y| - T + 1),
  so indexing each pool text under its first m - tau(m) + 1 elements finds every candidate.
- Each candidate gets the exact LCS (rapidfuzz, on token lists) and rouge-score's own float formula,
  so a score that lands on the threshold compares the same way as in rouge-score.

The order only has to be fixed for the life of one index; it is taken from the token frequencies of
the pool and the candidates of the call, and tokens that appear nowhere else sort first (rarest).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from rapidfuzz.distance import LCSseq

THRESHOLD = 0.7  # Self-Instruct drops a new instruction above this ROUGE-L with any in the pool
_TOKEN = re.compile(r"[a-z0-9]+")
_SLACK = 1e-9  # the bounds are taken a hair loose, so float rounding in F can never beat them


def rouge_tokens(text: str) -> list[str]:
    """rouge-score's default tokenizer, without stemming: lowercase, then runs of [a-z0-9]."""
    return _TOKEN.findall(text.lower())


def rouge_l(target: Sequence[str], prediction: Sequence[str]) -> float:
    """ROUGE-L F-measure of two token lists, computed as rouge-score computes it."""
    if not target or not prediction:
        return 0.0
    lcs = LCSseq.similarity(target, prediction)
    precision = lcs / len(prediction)
    recall = lcs / len(target)
    return 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0


def min_shared(m: int, threshold: float = THRESHOLD) -> int:
    """Fewest tokens a text of m tokens shares with any text it scores above `threshold` with."""
    return max(1, math.ceil(threshold * m / (2 - threshold) - _SLACK))


def _elements(tokens: Sequence[str]) -> list[tuple[str, int]]:
    """The multiset as a set: the k-th repeat of a token is its own element (token, k)."""
    seen: Counter[str] = Counter()
    out = []
    for token in tokens:
        out.append((token, seen[token]))
        seen[token] += 1
    return out


@dataclass(frozen=True)
class Decision:
    kept: bool
    nearest: int | None  # index into pool + candidates of the most similar text, when dropped
    score: float | None  # its ROUGE-L F, when dropped


class NoveltyIndex:
    """The pool's instructions, indexed for ROUGE-L lookups; `add_if_novel` grows it one text at a time.

    `vocabulary` fixes the element order: every text that will be looked up or added should be in it
    (others still work, their unseen elements ranking as rarest).
    """

    def __init__(self, vocabulary: Sequence[Sequence[str]], threshold: float = THRESHOLD) -> None:
        self.threshold = threshold
        frequency: Counter[tuple[str, int]] = Counter()
        for tokens in vocabulary:
            frequency.update(_elements(tokens))
        self._rank = {e: r for r, e in enumerate(sorted(frequency, key=lambda e: (frequency[e], e)))}
        self._postings: dict[tuple[str, int], list[int]] = {}
        self._texts: list[list[str]] = []
        self.scored = 0  # exact ROUGE-L computations made, for the benchmark

    def __len__(self) -> int:
        return len(self._texts)

    def _prefix(self, tokens: Sequence[str]) -> list[tuple[str, int]]:
        elements = _elements(tokens)
        rank = self._rank
        elements.sort(key=lambda e: (rank.get(e, -1), e))
        return elements[: len(elements) - min_shared(len(elements), self.threshold) + 1]

    def add(self, tokens: Sequence[str]) -> int:
        """Add a text without looking it up (the seed pool); its index."""
        index = len(self._texts)
        self._texts.append(list(tokens))
        if tokens:
            for element in self._prefix(tokens):
                self._postings.setdefault(element, []).append(index)
        return index

    def nearest(self, tokens: Sequence[str]) -> tuple[int | None, float]:
        """The indexed text most similar to `tokens` and its ROUGE-L F, if that F is above the
        threshold; otherwise (None, best F among the candidates looked at)."""
        if not tokens:
            return None, 0.0
        m = len(tokens)
        candidates: set[int] = set()
        for element in self._prefix(tokens):
            candidates.update(self._postings.get(element, ()))
        best, best_score = None, 0.0
        bound = self.threshold - _SLACK
        for index in sorted(candidates):
            other = self._texts[index]
            n = len(other)
            if 2 * min(m, n) / (m + n) <= bound:  # too different in length to get there
                continue
            self.scored += 1
            score = rouge_l(tokens, other)
            if score > best_score:
                best, best_score = index, score
        return (best, best_score) if best_score > self.threshold else (None, best_score)

    def add_if_novel(self, tokens: Sequence[str]) -> Decision:
        nearest, score = self.nearest(tokens)
        if nearest is not None:
            return Decision(kept=False, nearest=nearest, score=score)
        self.add(tokens)
        return Decision(kept=True, nearest=None, score=None)


def filter_novel(
    pool: Sequence[str], candidates: Sequence[str], threshold: float = THRESHOLD
) -> list[Decision]:
    """Self-Instruct's filter over `candidates` in order: each is kept when no text of the pool, nor
    any candidate kept before it, scores above `threshold` with it. `nearest` indexes pool + candidates.
    """
    pool_tokens = [rouge_tokens(t) for t in pool]
    candidate_tokens = [rouge_tokens(t) for t in candidates]
    index = NoveltyIndex(pool_tokens + candidate_tokens, threshold)
    for tokens in pool_tokens:
        index.add(tokens)
    position = list(range(len(pool)))  # index slot -> position in pool + candidates
    decisions = []
    for offset, tokens in enumerate(candidate_tokens):
        decision = index.add_if_novel(tokens)
        if decision.kept:
            position.append(len(pool) + offset)
            decisions.append(decision)
        else:
            decisions.append(Decision(False, position[decision.nearest], decision.score))  # type: ignore[index]
    return decisions
