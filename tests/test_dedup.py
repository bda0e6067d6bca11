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


def test_the_threshold_applies_at_finalize_without_re_extracting(tmp_path) -> None:
    """Workers stage signatures; a rerun with another threshold skips every batch and re-cuts the bands."""
    import json

    import duckdb

    from etl.pipeline import run_etl
    from etl.settings import load_settings

    words = (BASE + " " + BASE.replace("tomatoes", "peppers") + " " + BASE.replace("soup", "sauce")).split()
    changed = list(words)
    for i in range(6, len(changed), 12):  # one word in twelve: word 5-gram Jaccard about 0.4
        changed[i] = "changed"
    corpus = tmp_path / "pages.jsonl"
    with corpus.open("w") as out:
        for name, text in (("a", " ".join(words)), ("b", " ".join(changed))):
            html = f"<html><body><article><h2>Soup</h2><p>{text}</p></article></body></html>"
            out.write(json.dumps({"url": f"https://example.com/{name}", "html": html}) + "\n")

    def clustered(threshold: float) -> tuple[int, int]:
        settings = load_settings(None, [f"dedup.threshold={threshold}", "quality.min_words=5"])
        report = run_etl([corpus], tmp_path / "wh", settings, workers=1, show_progress=False)
        rows = duckdb.sql(
            f"SELECT count(DISTINCT dup_cluster), count(*) FILTER (is_duplicate) "
            f"FROM read_parquet('{tmp_path}/wh/segments/*.parquet')"
        ).fetchall()[0]
        return report.batches_skipped, rows[1]

    assert clustered(0.75) == (0, 0)  # extracted; the pages differ too much at 0.75
    assert clustered(0.3) == (1, 1)  # nothing extracted again; at 0.3 one page is the other's duplicate
