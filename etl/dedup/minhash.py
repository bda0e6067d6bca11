"""MinHash signatures and LSH band hashes for a batch of segments, vectorised.

The signatures are datasketch's (scheme "affine32": fmix32 pre-mix, then a*h+b mod 2^32 with
datasketch's own permutations for the seed), computed for a whole batch with numpy instead of one
`MinHash` object per segment; `tests/test_dedup.py` checks them against `datasketch.MinHash`.
Band and row counts come from datasketch's LSH parameter optimiser for the chosen threshold.
Shingles are word n-grams of the lower-cased text: each word is hashed once with polars, and an
n-gram's 32-bit hash mixes its words' hashes (numpy, over the whole batch at once).
"""

from __future__ import annotations

from functools import cache

import numpy as np
import polars as pl
from datasketch import MinHash, MinHashLSH

# private, with no public equivalent: pinned by constraints.txt, and test_dedup.py checks our
# signatures against MinHash's own
from datasketch.minhash import _fmix

from etl.settings import DedupSettings

_CHUNK = 16_384  # shingles per numpy block: bounds the (shingles x permutations) matrix
_SHINGLE_SEED = 42


@cache
def lsh_params(threshold: float, num_perm: int) -> tuple[int, int]:
    """(bands, rows) minimising false positives + negatives at `threshold`: datasketch's MinHashLSH's own."""
    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
    return lsh.b, lsh.r


@cache
def permutations(num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    a, b = MinHash(num_perm=num_perm, seed=seed, scheme="affine32").permutations
    return a.astype(np.uint32), b.astype(np.uint32)


def shingle_hashes(texts: pl.Series, ngram: int) -> pl.DataFrame:
    """(row, hash) for every word n-gram of every text; texts shorter than n words yield nothing.

    Each word is hashed once (polars); an n-gram's hash mixes its words' hashes by position, with
    numpy slices over the exploded words instead of building n-gram strings.
    """
    words = (
        pl.DataFrame({"text": texts})
        .with_row_index("row")
        .select("row", word=pl.col("text").str.to_lowercase().str.extract_all(r"\w+"))
        .explode("word")
        .drop_nulls("word")
        .select("row", h=pl.col("word").hash(seed=_SHINGLE_SEED))
    )
    rows, word_hash = words["row"].to_numpy(), words["h"].to_numpy()
    count = len(rows) - ngram + 1
    if count <= 0:
        return pl.DataFrame({"row": [], "hash": []}, schema={"row": pl.UInt32, "hash": pl.UInt32})
    valid = rows[:count] == rows[ngram - 1 :]  # the n-gram does not cross into the next text
    mixed = np.zeros(count, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for i in range(ngram):
            mixed = (mixed ^ word_hash[i : i + count]) * np.uint64(0x100000001B3)  # FNV-style mixing
            mixed ^= mixed >> np.uint64(29)
    return pl.DataFrame(
        {"row": rows[:count][valid], "hash": (mixed[valid] >> np.uint64(32)).astype(np.uint32)}
    )


def signatures(shingles: pl.DataFrame, n_rows: int, settings: DedupSettings) -> np.ndarray:
    """MinHash signature per row (uint32, n_rows x num_perm); rows without shingles stay at the max."""
    a, b = permutations(settings.num_perm, settings.seed)
    sig = np.full((n_rows, settings.num_perm), np.iinfo(np.uint32).max, dtype=np.uint32)
    rows = shingles["row"].to_numpy()
    hashes = _fmix(shingles["hash"].to_numpy().astype(np.uint32), 32)
    for start in range(0, len(rows), _CHUNK):
        r, h = rows[start : start + _CHUNK], hashes[start : start + _CHUNK]
        permuted = h[:, None] * a[None, :] + b[None, :]  # uint32 arithmetic wraps: mod 2^32
        _min_by_row(sig, r, permuted)
    return sig


def _min_by_row(sig: np.ndarray, rows: np.ndarray, values: np.ndarray) -> None:
    """sig[row] = min(sig[row], values of that row); rows arrive sorted (exploded in order)."""
    starts = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]])
    mins = np.minimum.reduceat(values, starts, axis=0)
    uniq = rows[starts]
    sig[uniq] = np.minimum(sig[uniq], mins)


def band_hashes(sig: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """One 64-bit hash per LSH band (n x bands), mixing the band's `rows` values (splitmix64)."""
    n = sig.shape[0]
    grouped = sig[:, : bands * rows].reshape(n, bands, rows).astype(np.uint64)
    h = np.zeros((n, bands), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for j in range(rows):
            h = h ^ grouped[:, :, j]
            h = h + np.uint64(0x9E3779B97F4A7C15)
            h = (h ^ (h >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
            h = (h ^ (h >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
            h = h ^ (h >> np.uint64(31))
    return h


def segment_signatures(texts: pl.Series, settings: DedupSettings) -> pl.Series:
    """The MinHash signature per text as a list column (num_perm uint32 values); null for texts with
    fewer than `ngram` words. Workers stage these, not band hashes, so that the similarity threshold
    (and with it the band layout) applies at finalize, without re-extracting anything."""
    shingles = shingle_hashes(texts, settings.ngram)
    n = len(texts)
    sig = signatures(shingles, n, settings)
    has_shingles = np.zeros(n, dtype=bool)
    has_shingles[shingles["row"].unique().to_numpy()] = True
    frame = pl.DataFrame({"minhash": sig, "ok": has_shingles})
    return frame.select(
        pl.when("ok").then(pl.col("minhash").cast(pl.List(pl.UInt32))).otherwise(None).alias("minhash")
    ).to_series()


def signature_bands(minhash: pl.Series, settings: DedupSettings) -> pl.Series:
    """LSH band hashes (the layout datasketch picks for `settings.threshold`) of staged signatures, as
    a list column; null where the signature is null."""
    bands, rows = lsh_params(settings.threshold, settings.num_perm)
    present = minhash.is_not_null().to_numpy()
    hashes = np.zeros((len(minhash), bands), dtype=np.uint64)
    if present.any():
        matrix = minhash.drop_nulls().list.to_array(settings.num_perm).to_numpy()
        hashes[present] = band_hashes(matrix, bands, rows)
    frame = pl.DataFrame({"bands": hashes, "ok": present})
    return frame.select(
        pl.when("ok").then(pl.col("bands").cast(pl.List(pl.UInt64))).otherwise(None).alias("bands")
    ).to_series()


def segment_bands(texts: pl.Series, settings: DedupSettings) -> pl.Series:
    """LSH band hashes per text as a list column; null for texts with fewer than `ngram` words."""
    return signature_bands(segment_signatures(texts, settings), settings)
