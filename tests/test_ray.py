"""The Ray engine against the local engine: same tables from the ETL, same rows from the model stages.

Ray runs as a real local instance bound to 127.0.0.1 (2 CPUs), started once for this module.
"""

from __future__ import annotations

import functools
import itertools
import os
import random
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from etl.dedup import components as cc
from etl.finalize import duplicate_clusters
from etl.pipeline import EtlCodeError, run_etl
from etl.settings import Settings, load_settings
from tests.conftest import copy_warehouse as copy_of
from tests.test_pipeline import GOOD_PAGE, bug_on_every_page, crash_on_marker
from warehouse.store import STAGED_TABLES, Warehouse

ray = pytest.importorskip("ray", reason="Ray is a dev dependency: make test installs it")


def table(root: Path, name: str) -> pl.DataFrame:
    return pl.read_parquet(root / name / "*.parquet")


# Connected components over partitions, in one process -------------------------------------------
def star_components(edges: pl.DataFrame, n: int, members: pl.DataFrame) -> pl.DataFrame:
    """The Ray finalize's steps with its shuffles done in memory: route each step's rows by hash."""

    def shuffle(parts: list[pl.DataFrame], prepare) -> list[pl.DataFrame]:
        routed = [cc.hash_partition(prepare(p), "u", n) for p in parts]
        return [pl.concat([r[i] for r in routed]) for i in range(n)]

    parts = cc.hash_partition(edges, "a", n)  # any split will do for the first round
    for _ in range(100):
        large = [cc.large_star(p) for p in shuffle(parts, cc.both_directions)]
        small = [cc.small_star(p) for p in shuffle([e for e, _ in large], cc.downward)]
        parts = [e for e, _ in small]
        if sum(m for _, m in large) + sum(m for _, m in small) == 0:
            break
    adjacency = shuffle(parts, cc.both_directions)
    member_parts = cc.hash_partition(members, "segment_id", n)
    labelled = [cc.labelled_members(adjacency[i], member_parts[i]) for i in range(n)]
    by_component = [cc.hash_partition(lab, "component", n) for lab in labelled]
    return pl.concat([cc.kept_members(pl.concat([b[i] for b in by_component])) for i in range(n)])


@pytest.mark.parametrize("seed", range(12))
def test_star_components_equal_scipy_and_the_local_kept_members(seed: int) -> None:
    """Random graphs (chains, stars, cliques, isolated pairs; ids in random order), 1 to 5 partitions."""
    rng = random.Random(seed)
    ids = [f"{rng.getrandbits(64):016x}" for _ in range(rng.randint(2, 300))]
    pairs = set()
    for _ in range(rng.randint(1, 400)):
        a, b = rng.sample(ids, 2)
        pairs.add((a, b))
    chain = rng.sample(ids, min(len(ids), 40))  # a long path: the worst case for label propagation
    pairs.update(itertools.pairwise(chain))
    edges = pl.DataFrame(sorted(pairs), schema=cc.EDGES, orient="row")
    passes = pl.DataFrame({"segment_id": ids, "passes": [rng.random() < 0.5 for _ in ids]})
    members = passes.with_columns(file_index=pl.lit(0, pl.Int32))

    got = star_components(edges, rng.randint(1, 5), members).sort("segment_id")

    nodes = sorted(set(edges["a"]) | set(edges["b"]))
    index = {node: i for i, node in enumerate(nodes)}
    graph = coo_matrix(
        (np.ones(edges.height), ([index[a] for a in edges["a"]], [index[b] for b in edges["b"]])),
        shape=(len(nodes), len(nodes)),
    )
    _, labels = connected_components(graph, directed=False)
    smallest: dict[int, str] = {}
    for node, label in zip(nodes, labels, strict=True):
        smallest[label] = min(smallest.get(label, node), node)
    assert got["segment_id"].to_list() == nodes
    assert got["dup_cluster"].to_list() == [smallest[label] for label in labels]
    expected = duplicate_clusters(edges.to_arrow(), passes).sort("segment_id")
    assert got.select(expected.columns).equals(expected)


# The ETL ------------------------------------------------------------------------------------------
@pytest.mark.ray
def test_ray_etl_equals_local_on_real_warcs_and_resumes(shared: Path, tmp_path: Path, local_ray) -> None:
    """The real WARCs, one of them also as a copy under another name (its segments are staged by two
    batches), read in packed groups: the Ray engine's documents, segments and rejects equal the local
    engine's, row for row, ids and flags included."""
    copy = tmp_path / "copy" / "again.warc.gz"
    copy.parent.mkdir()
    copy.write_bytes((shared / "warc" / "dolma_sample-0000.warc.gz").read_bytes())
    inputs = [shared / "warc", copy]
    local = run_etl(inputs, tmp_path / "local", Settings(), workers=2, show_progress=False)
    on_ray = run_etl(inputs, tmp_path / "ray", Settings(), show_progress=False, engine="ray")
    assert on_ray.engine == "ray" and on_ray.batches == local.batches
    assert on_ray.final.funnel == local.final.funnel
    assert local.final.count("dropped: duplicate") > 0
    for name in STAGED_TABLES:
        expected, got = table(tmp_path / "local", name), table(tmp_path / "ray", name)
        assert got.height > 0 or name == "rejects"
        assert got.equals(expected), name
    segments = table(tmp_path / "ray", "segments")
    assert segments.filter(pl.col("is_duplicate")).height > 0

    # Other partition counts (one for a one-CPU instance, three): the same tables.
    from etl.cluster.finalize import finalize_on_ray

    for partitions in (1, 3):
        finalize_on_ray(Warehouse(tmp_path / "ray"), Settings(), partitions)
        for name in STAGED_TABLES:
            assert table(tmp_path / "ray", name).equals(table(tmp_path / "local", name)), (partitions, name)

    again = run_etl(inputs, tmp_path / "ray", Settings(), show_progress=False, engine="ray")
    assert again.batches_skipped == again.batches
    for name in STAGED_TABLES:
        assert table(tmp_path / "ray", name).equals(table(tmp_path / "local", name)), name


@pytest.mark.ray
def test_ray_packs_a_folder_of_small_files_into_the_local_engines_batches(tmp_path: Path, local_ray) -> None:
    """200 one-page files, packed into groups: the Ray engine finds the local engine's batches (a run
    on one resumes on the other) and writes the same tables."""
    from tests.test_plan import write_pages

    write_pages(tmp_path / "pages", [f"p{i:03d}.html.gz" for i in range(200)])
    local = run_etl([tmp_path / "pages"], tmp_path / "local", Settings(), workers=2, show_progress=False)
    on_ray = run_etl([tmp_path / "pages"], tmp_path / "ray", Settings(), show_progress=False, engine="ray")
    assert local.records == on_ray.records == 200
    assert on_ray.batches == local.batches < 20
    for name in STAGED_TABLES:
        assert table(tmp_path / "ray", name).equals(table(tmp_path / "local", name)), name
    resumed = run_etl([tmp_path / "pages"], tmp_path / "local", Settings(), show_progress=False, engine="ray")
    assert resumed.batches_skipped == resumed.batches == local.batches


@pytest.mark.ray
def test_ray_engine_isolates_a_page_that_kills_its_worker(tmp_path: Path, local_ray) -> None:
    from etl.cluster.engine import RayEngine
    from etl.records import RawRecord

    pages = {"a.html": GOOD_PAGE, "b.html": b"<p>CRASH-THE-WORKER</p>", "c.html": GOOD_PAGE + b" "}
    items = [RawRecord(source=name, url=None, payload=payload) for name, payload in pages.items()]
    warehouse = Warehouse(tmp_path)
    engine = RayEngine(Settings(), warehouse, workers=2, task=crash_on_marker)
    ref = ray.put(items)
    counts, isolated = engine.result("batch", ref, len(items), engine.submit("batch", ref, len(items)))
    assert isolated == 3
    assert counts == {"documents": 2, "segments": 2, "rejects": 1}
    rejects = pl.read_parquet(warehouse.staged_path("rejects", "batch"))
    assert rejects.select("source", "reason").rows() == [("b.html", "worker_crashed")]


@pytest.mark.ray
def test_ray_run_stops_on_a_bug_that_fails_every_page(
    sample_warc: Path, tmp_path: Path, local_ray, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The local engine's test of the same bug (test_pipeline.py), on Ray: the traceback comes from
    the RayTaskError, and the run stops after two batches without committing them."""
    from etl.cluster import engine

    monkeypatch.setattr(engine, "RayEngine", functools.partial(engine.RayEngine, task=bug_on_every_page))
    settings = load_settings(None, ["read.records_per_batch=4"])
    with pytest.raises(EtlCodeError, match=r"^KeyError: .*in bug_on_every_page\) failed every page of 2"):
        run_etl([sample_warc], tmp_path, settings, show_progress=False, engine="ray")
    log = (tmp_path / "_logs" / "etl-errors.log").read_text()
    assert "by_url[items[0].source]" in log and "\x1b[" not in log
    assert not list((tmp_path / "_staging" / "manifests").glob("*.json"))


# The model stages ---------------------------------------------------------------------------------
@pytest.mark.ray
@pytest.mark.model
@pytest.mark.timeout(300)  # about 60 s here: each stage twice, in-process and on two actors
def test_ray_model_stages_equal_local(seeded_sample, tmp_path: Path, local_ray, embedded_calibration) -> None:
    """Augment 8 segments (T=0.7, per-row seeds, the base model's default drawing: best of 4, ranked by
    likelihood) and rate them (temperature 0, the default calibrated mode, its calibration already
    fitted) in 4-row batches, on the in-process engine and on two Ray actors of one CPU each: the same
    rows, bit for bit."""
    from inference.augment import augment
    from inference.curate import curate
    from inference.engines import open_engine
    from inference.engines.ray_pool import RayModelPool

    local_wh, ray_wh = seeded_sample, copy_of(seeded_sample.root, tmp_path / "r")
    local = open_engine(parallel=8, threads=2)
    try:
        augment(local_wh, local, limit=8, batch_rows=4, show_progress=False)
        curate(local_wh, local, batch_rows=4, show_progress=False)
    finally:
        local.close()
    pool = RayModelPool(actors=2, cpus_per_actor=1, parallel=8)
    try:
        assert pool.model_id == local.model_id and len(pool.actors) == 2
        report = augment(ray_wh, pool, limit=8, batch_rows=4, show_progress=False)
        assert report.batches == 2
        curate(ray_wh, pool, batch_rows=4, show_progress=False)
    finally:
        pool.close()
    for name, key, columns in (
        ("augmentations", "augmentation_id", ["segment_id", "instruction", "status", "raw_output", "model"]),
        (
            "scores",
            "score_id",
            ["augmentation_id", "score", "expected_score", "probs", "p_good", "ifd", "status", "model"],
        ),
    ):
        expected = table(local_wh.root, name).select(key, *columns).sort(key)
        got = table(ray_wh.root, name).select(key, *columns).sort(key)
        assert expected.height > 0
        assert got.equals(expected), name


@pytest.mark.ray
@pytest.mark.model
def test_a_lost_actor_batch_is_retried_without_duplicates(seeded_sample, tmp_path: Path, local_ray) -> None:
    """An actor process dies in the middle of a batch (os._exit, as a node loss would end it): Ray
    restarts it, the batch runs again, and every pending row is written exactly once. One draw per
    row: what is under test is the retry, not the drawing."""
    from inference.augment import augment
    from inference.engines.ray_pool import RayModelPool
    from inference.instructions import Drawing

    warehouse = seeded_sample
    marker = tmp_path / "crashed-once"
    pool = RayModelPool(actors=2, cpus_per_actor=1, parallel=4)
    real_map = pool.map_batches

    def map_with_a_crash(compute, chunks):
        def crash_once(engine, chunk):
            if chunk.height and not marker.exists():
                marker.write_text(str(os.getpid()))
                os._exit(1)
            return compute(engine, chunk)

        return real_map(crash_once, chunks)

    pool.map_batches = map_with_a_crash
    try:
        report = augment(warehouse, pool, limit=12, batch_rows=4, drawing=Drawing(), show_progress=False)
        pids = set(
            ray.get([actor.run.remote(lambda e, c: os.getpid(), pl.DataFrame()) for actor in pool.actors])
        )
    finally:
        pool.close()
    assert marker.exists()
    assert int(marker.read_text()) not in pids  # the actor that died was replaced
    rows = table(warehouse.root, "augmentations")
    assert report.computed == rows.height == 12
    assert rows["segment_id"].n_unique() == 12
    assert rows["batch_id"].n_unique() == 3
