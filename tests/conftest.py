"""Shared fixtures. Real third-party data lives in ../shared/data and is read from there, never copied.

The markers (pyproject.toml) say what makes a test heavy: `model`, `server`, `ray`, `train`, `browser`,
`slow`. `make test-fast` runs the tests that have none of them, so the fixtures here stop a test that
loads the real model, starts a server or starts Ray without saying so: it would slow the fast set
silently. Tests of stage logic use `tests/fake_engine.py` instead of the model.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
SAMPLE_CORPUS = ROOT / "etl" / "sample_corpus"
# marker -> what a test without it may not call, and what that call does
GUARDED = {
    "model": ("inference.engines.local.LocalEngine.__init__", "loads the real model"),
    "server": ("inference.serving.launch.start", "starts a llama.cpp server"),
    "ray": ("ray.init", "starts Ray"),
}
# a fixture -> the marker a test that uses it needs (checked at collection)
FIXTURE_MARKERS = {
    "engine": "model",
    "embedded_calibration": "model",
    "local_ray": "ray",
    "llama_server": "server",
    "python_server": "server",
    "browser": "browser",
}
# A session fixture that takes minutes to build: whichever test builds it first (which one depends on
# the tests selected) gets this much time more than its own timeout.
FIXTURE_SECONDS = {"embedded_calibration": 400}


def pytest_configure(config: pytest.Config) -> None:
    """Fitted calibrations go to a folder of this session, so the suite fits the embedded one itself
    (once: later tests and the CLI's subprocesses find it there) and leaves ~/.cache alone."""
    import tempfile

    os.environ["HUMPBACK_CACHE_DIR"] = tempfile.mkdtemp(prefix="humpback-test-cache-")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A test that uses a heavy fixture carries its marker, so that `-m` selects it right, and has the
    time to build it (`FIXTURE_SECONDS`)."""
    wrong = []
    for item in items:
        marked = {m.name for m in item.iter_markers()}
        fixtures = getattr(item, "fixturenames", ())
        for fixture in fixtures:
            needed = FIXTURE_MARKERS.get(fixture)
            if needed and needed not in marked and "train" not in marked:
                wrong.append(f"{item.nodeid} uses the fixture {fixture}: mark it `{needed}`")
        extra = sum(FIXTURE_SECONDS.get(fixture, 0) for fixture in fixtures)
        if extra:
            own = item.get_closest_marker("timeout")
            base = own.args[0] if own and own.args else float(config.getini("timeout") or 0)
            item.add_marker(pytest.mark.timeout(base + extra), append=False)
    if wrong:
        raise pytest.UsageError("\n".join(wrong))


@pytest.fixture(autouse=True)
def _heavy_work_needs_its_marker(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail a test that does what one of `GUARDED`'s markers says without that marker (the training
    tests, marked `train`, may do all three: the loop opens the models it trains). Fixtures of a wider
    scope are checked at collection (`FIXTURE_MARKERS`)."""
    marked = {m.name for m in request.node.iter_markers()}
    if "train" in marked:
        return
    for marker, (target, what) in GUARDED.items():
        if marker not in marked:

            def refuse(*args, _what=what, _marker=marker, **kwargs):
                raise AssertionError(f"{request.node.nodeid} {_what}: mark it `{_marker}` (pyproject.toml)")

            monkeypatch.setattr(target, refuse)


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


@dataclass(frozen=True)
class EtlRun:
    root: Path
    report: object  # etl.pipeline.RunReport


@pytest.fixture(scope="session")
def sample_etl(sample_warc: Path, tmp_path_factory: pytest.TempPathFactory) -> EtlRun:
    """The ETL's tables of the embedded sample, run once per session with the default settings, and its
    report. Tests that add to a warehouse take a copy (`copy_warehouse`); this one is only read."""
    from etl.pipeline import run_etl
    from etl.settings import Settings

    root = tmp_path_factory.mktemp("sample-etl") / "wh"
    report = run_etl([sample_warc], root, Settings(), workers=2, show_progress=False)
    return EtlRun(root, report)


def copy_warehouse(source: Path, target: Path):
    """A copy of a warehouse folder, as a `Warehouse`."""
    from warehouse.store import Warehouse

    shutil.copytree(source, target)
    return Warehouse(target)


@pytest.fixture
def seeded_sample(sample_etl: EtlRun, tmp_path: Path):
    """A copy of the sample's ETL tables with the embedded seeds loaded."""
    from etl.seeds.table import add_seeds

    warehouse = copy_warehouse(sample_etl.root, tmp_path / "seeded")
    add_seeds(warehouse)
    return warehouse


@pytest.fixture(scope="session")
def scored_warehouse(sample_etl: EtlRun, tmp_path_factory: pytest.TempPathFactory):
    """The ETL's tables on the embedded sample, the embedded seeds and chosen scores in two iterations
    (see tests/scored_warehouse.py): (Warehouse, the ETL's report)."""
    from tests.scored_warehouse import build_scored_warehouse

    store = copy_warehouse(sample_etl.root, tmp_path_factory.mktemp("scored") / "wh")
    return build_scored_warehouse(store), sample_etl.report


@pytest.fixture
def fake_engines(monkeypatch: pytest.MonkeyPatch) -> Iterator[list]:
    """Every engine the code under test opens is a `FakeEngine` (tests/fake_engine.py); the list holds
    them, in the order they were opened."""
    import inference.engines
    from tests.fake_engine import fake_opener

    open_fake, opened = fake_opener()
    monkeypatch.setattr(inference.engines, "open_engine", open_fake)
    yield opened


@pytest.fixture(scope="session")
def embedded_calibration():
    """The calibration of the embedded model on the embedded seed set, as `make etl` fits it (about
    150 s here, once per session: the first test that asks for it has a longer timeout)."""
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
