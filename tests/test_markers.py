"""The suite's own rule (tests/conftest.py): a test without the marker for heavy work cannot do it, so the
fast set (`make test-fast`) stays fast without anyone watching it."""

from __future__ import annotations

from pathlib import Path

import pytest


def test_an_unmarked_test_cannot_load_the_model_start_a_server_or_ray() -> None:
    from inference.engines.local import LocalEngine
    from inference.models import embedded_model_path
    from inference.serving import launch

    with pytest.raises(AssertionError, match="loads the real model: mark it `model`"):
        LocalEngine(embedded_model_path(), "embedded")
    with pytest.raises(AssertionError, match=r"starts a llama\.cpp server: mark it `server`"):
        launch.start(launch.ServerSettings(embedded_model_path()), Path("server.log"))
    ray = pytest.importorskip("ray", reason="Ray is a dev dependency: make test installs it")
    with pytest.raises(AssertionError, match="starts Ray: mark it `ray`"):
        ray.init()


@pytest.mark.model
def test_a_marked_test_may(tmp_path: Path) -> None:
    from inference.engines.local import LocalEngine
    from inference.models import embedded_model_path

    engine = LocalEngine(embedded_model_path(), "embedded", n_ctx=256, parallel=1)
    engine.close()


def test_the_heavy_fixtures_name_their_markers_and_extra_time(pytestconfig: pytest.Config) -> None:
    """Every marker the rule uses is declared (`--strict-markers` rejects others), and a fixture that
    takes minutes to build is one whose marker the collection demands."""
    from tests.conftest import FIXTURE_MARKERS, FIXTURE_SECONDS, GUARDED

    declared = {line.split(":")[0] for line in pytestconfig.getini("markers")}
    assert set(GUARDED) | set(FIXTURE_MARKERS.values()) <= declared
    assert set(FIXTURE_SECONDS) <= set(FIXTURE_MARKERS)
