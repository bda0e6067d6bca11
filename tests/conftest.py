"""Shared fixtures. Real third-party data lives in ../shared/data and is read from there, never copied."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def pytest_configure(config: pytest.Config) -> None:
    """Fitted calibrations go to a folder of this session, so the suite fits the embedded one itself
    (once: later tests and the CLI's subprocesses find it there) and leaves ~/.cache alone."""
    import tempfile

    os.environ["HUMPBACK_CACHE_DIR"] = tempfile.mkdtemp(prefix="humpback-test-cache-")


SHARED = ROOT.parent / "shared" / "data"
SAMPLE_CORPUS = ROOT / "etl" / "sample_corpus"


@pytest.fixture(scope="session")
def shared() -> Path:
    if not SHARED.is_dir():
        if os.environ.get("CI"):
            pytest.fail(f"CI needs the shared test data at {SHARED}")
        pytest.skip(f"shared test data not found at {SHARED} (it sits beside the repository in CI)")
    return SHARED


@pytest.fixture(scope="session")
def sample_warc(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The embedded sample corpus, built fresh by its own script."""
    from etl.sample_corpus.build_warc import build

    out = tmp_path_factory.mktemp("sample") / "sample.warc.gz"
    build(out)
    return out


@pytest.fixture(scope="session")
def scored_warehouse(sample_warc: Path, tmp_path_factory: pytest.TempPathFactory):
    """The ETL's tables on the embedded sample, the embedded seeds and chosen scores in two iterations
    (see tests/scored_warehouse.py): (Warehouse, the ETL's report)."""
    from tests.scored_warehouse import build_scored_warehouse

    return build_scored_warehouse(sample_warc, tmp_path_factory.mktemp("scored") / "wh")


@pytest.fixture(scope="session")
def embedded_calibration():
    """The calibration of the embedded model on the embedded seed set, as `make etl` fits it."""
    from etl.seeds.loaders import load_embedded_seeds
    from inference.curation.rater import make_rater
    from inference.engines import open_engine

    engine = open_engine(parallel=8, n_ctx=16384)
    try:
        rater, _ = make_rater(engine, "calibrated", seeds=load_embedded_seeds().frame(), show_progress=False)
    finally:
        engine.close()
    return rater.calibration


@pytest.fixture(scope="module")
def local_ray():
    """A local Ray instance of 2 CPUs on 127.0.0.1, for one test module."""
    ray = pytest.importorskip("ray", reason="Ray is a dev dependency: make test installs it")
    from common.ray_runtime import start_ray

    if ray.is_initialized():
        ray.shutdown()
    start_ray(num_cpus=2)
    assert ray.get_runtime_context().gcs_address.startswith("127.0.0.1:")
    yield
    ray.shutdown()
