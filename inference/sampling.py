"""Sampling settings and the sampler: temperature, then nucleus (top-p), from one row's own seed.

Each row draws from its own generator, seeded from the run's seed and the row's key, so a row's text
does not depend on which other rows shared its batch, on the batch size or on a resume.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

import numpy as np
import xxhash


@dataclass(frozen=True)
class Sampling:
    temperature: float = 0.7  # the paper's self-augmentation settings
    top_p: float = 0.9
    seed: int = 0
    max_new_tokens: int = 64
    max_input_chars: int = 6000  # longer segments are cut, and the row says so

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)


def row_seed(run_seed: int, key: str) -> int:
    return xxhash.xxh3_64_intdigest(f"{run_seed}:{key}".encode()) & 0x7FFF_FFFF_FFFF_FFFF


def sample_token(logits: np.ndarray, temperature: float, top_p: float, rng: np.random.Generator) -> int:
    """One token id from raw logits; temperature 0 is greedy.

    Only tokens with p >= (1 - top_p) / (2 V) can be in the nucleus: all rarer tokens together hold
    less than (1 - top_p) / 2 of the mass, so the likelier ones already reach top_p. Sorting just those
    candidates gives the exact nucleus without sorting the whole vocabulary (262k tokens for Gemma 3).
    """
    if temperature <= 0:
        return int(np.argmax(logits))
    scaled = (logits - logits.max()) * np.float32(1.0 / temperature)
    weights = np.exp(scaled)
    total = float(weights.sum(dtype=np.float64))
    floor = (1.0 - top_p) / (2.0 * logits.size) * total
    candidates = np.flatnonzero(weights >= floor) if top_p < 1.0 else np.arange(logits.size)
    probs = weights[candidates].astype(np.float64) / total
    order = np.argsort(-probs, kind="stable")
    candidates, probs = candidates[order], probs[order]
    keep = min(int(np.searchsorted(np.cumsum(probs), top_p)) + 1, probs.size)  # smallest set with top_p
    nucleus = probs[:keep] / probs[:keep].sum()
    return int(candidates[rng.choice(keep, p=nucleus)])
