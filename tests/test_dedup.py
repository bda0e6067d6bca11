from __future__ import annotations

import numpy as np
import polars as pl
import pyarrow as pa
from datasketch import MinHash

from etl.dedup.minhash import lsh_params, segment_bands, shingle_hashes, signatures
from etl.finalize import duplicate_clusters
from etl.settings import DedupSettings

BASE = (
    "Roast the tomatoes with garlic and olive oil for forty minutes then blend them with vegetable stock "
    "until smooth and season the soup with salt pepper and a little sugar before serving it warm"
)


def test_batch_signatures_equal_datasketch_minhash() -> None:
    settings = DedupSettings()
    texts = pl.Series([BASE, BASE.replace("forty", "thirty"), "too short", "completely different words " * 9])
    shingles = shingle_hashes(texts, settings.ngram)
    sig = signatures(shingles, len(texts), settings)
    for row in range(len(texts)):
        reference = MinHash(num_perm=settings.num_perm, seed=settings.seed, hashfunc=int)
        reference.update_batch(shingles.filter(pl.col("row") == row)["hash"].to_list())
        assert np.array_equal(reference.hashvalues, sig[row])


def test_near_duplicates_share_a_band_and_different_texts_do_not() -> None:
    settings = DedupSettings()
    long_text = BASE + " " + BASE.replace("tomatoes", "peppers") + " " + BASE.replace("soup", "sauce")
    near = long_text.replace("forty", "thirty", 1)  # one word of 99 changed: Jaccard about 0.9
    other = (
        "Knead the dough for ten minutes until it is smooth and elastic then let it rise in a warm place " * 2
    )
    bands = segment_bands(pl.Series([long_text, near, other, "two words"]), settings).to_list()

    def shared_bands(x: list[int], y: list[int]) -> int:  # LSH compares band i with band i
        return sum(a == b for a, b in zip(x, y, strict=True))

    assert len(bands[0]) == lsh_params(settings.threshold, settings.num_perm)[0]
    assert shared_bands(bands[0], bands[1]) >= 1
    assert shared_bands(bands[0], bands[2]) == 0
    assert bands[3] is None


def test_clusters_keep_the_passing_member_with_the_smallest_id() -> None:
    edges = pa.table({"a": ["a1", "a1", "b1"], "b": ["a2", "a3", "b2"]})
    passes = pl.DataFrame(
        {"segment_id": ["a1", "a2", "a3", "b1", "b2"], "passes": [False, True, True, True, True]}
    )
    clusters = duplicate_clusters(edges, passes).sort("segment_id")
    assert clusters["dup_cluster"].to_list() == ["a1", "a1", "a1", "b1", "b1"]
    # a1 fails another filter, so a2 is kept; b1 passes and has the smallest id.
    assert clusters["is_duplicate"].to_list() == [True, False, True, False, True]
