"""`humpback iterate --engine ray`: training stays in this process, and every model stage of the loop
runs on a Ray actor pool opened with the GGUF trained for it.

Ray runs as a real local instance bound to 127.0.0.1 (2 CPUs), as in tests/test_ray.py, and the stages
run for real on its actors. Training does not: it stands in as the embedded GGUF under each model's
name, because training the loop's models takes minutes on 2 cores and is test_iterate.py's subject;
here what matters is which engine each stage gets, with which model. About a minute.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from humpback.cli import app
from warehouse.connect import query
from warehouse.store import Warehouse
from warehouse.views import connect_views

ray = pytest.importorskip("ray", reason="Ray is a dev dependency: make test installs it")
pytestmark = [pytest.mark.train, pytest.mark.ray, pytest.mark.model]

OASST = "seed/oasst_en_100_tree.jsonl"


@pytest.fixture
def fresh_warehouse(shared: Path, sample_etl, tmp_path: Path) -> Path:
    """The ETL's tables and the seeds, nothing trained: the session's seeded_warehouse may already hold
    the other loop test's models and rows, which this run would reuse instead of computing (seconds)."""
    from etl.seeds.table import add_seeds
    from tests.conftest import copy_warehouse

    store = copy_warehouse(sample_etl.root, tmp_path / "wh")
    add_seeds(store, [shared / OASST])
    return store.root


def test_iterate_engine_ray_runs_each_stage_on_a_pool_of_the_model_it_trained(
    fresh_warehouse: Path, local_ray, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import humpback_train.iterate
    from humpback_train.iterate import N_CTX
    from humpback_train.train import model_name

    import inference.engines.ray_pool as ray_pool
    from inference.models import embedded_model_path, file_sha256

    trained: list[tuple[str, int]] = []

    def stand_in_training(warehouse: Warehouse, role: str, iteration: int = 0, **_) -> dict[str, object]:
        """The models table's row of an already trained model; its GGUF is the embedded model's."""
        name = model_name(role, iteration)
        trained.append((role, iteration))
        path = tmp_path / f"{name}.gguf"
        path.symlink_to(embedded_model_path())
        return {
            "name": name,
            "role": role,
            "iteration": iteration,
            "gguf_path": str(path),
            "gguf_sha256": file_sha256(path),
            "train_rows": 0,
            "seed_rows": 0,
            "augmented_rows": 0,
            "first_loss": None,
            "final_loss": None,
            "reused": True,
        }

    monkeypatch.setattr(humpback_train.iterate, "train_model", stand_in_training)

    opened: list[dict[str, object]] = []

    class RecordingPool(ray_pool.RayModelPool):
        """The real pool, recording what each stage opened it with and the batches its actors ran."""

        def __init__(self, model, servers=(), **options) -> None:
            super().__init__(model, servers, **options)
            self.record = {"model": model, "servers": list(servers), **options, "batches": 0}
            opened.append(self.record)

        def map_batches(self, compute, chunks):
            for done in super().map_batches(compute, chunks):
                self.record["batches"] += 1
                yield done

        def close(self) -> None:
            super().close()
            self.record["closed"] = True

    monkeypatch.setattr(ray_pool, "RayModelPool", RecordingPool)  # StageEngine.open imports it late
    # the embedded base model stands in for M_yx and, unlike a backward model, answers instead of asking:
    # every draw would fail the question check, and this test is about where each stage runs
    from inference.augment import DRAWINGS
    from inference.instructions import Drawing

    monkeypatch.setitem(DRAWINGS, "chat", Drawing(candidates=4, attempts=2, questions_only=False))
    args = ["iterate", "--warehouse", str(fresh_warehouse), "--iterations", "2", "--min-score", "1.5"]
    args += ["--sample", "4", "--batch-rows", "2", "--parallel", "4", "--no-progress"]
    args += ["--engine", "ray", "--actors", "2", "--cpus-per-actor", "1"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output + repr(result.exception)

    # augment on M_yx, rate on M0, rescore on M1: each stage on a pool of its own model, then closed
    assert trained == [("backward", 0), ("forward", 0), ("forward", 1)]
    assert [r["model"] for r in opened] == [str(tmp_path / f"{m}.gguf") for m in ("M_yx", "M0", "M1")]
    for record in opened:
        assert record["servers"] == [] and record["actors"] == 2 and record["cpus_per_actor"] == 1
        assert record["parallel"] == 4 and record["n_ctx"] == N_CTX and record["address"] is None
        assert record["closed"]

    con = connect_views(Warehouse(fresh_warehouse))
    augmentations = query(con, "SELECT status FROM augmentations")
    scores = query(con, "SELECT iteration, count(*) AS n FROM scores GROUP BY ALL ORDER BY iteration")
    con.close()
    assert augmentations.height == 4 and opened[0]["batches"] == 2  # 4 rows in batches of 2, on actors
    rated = int((augmentations["status"] == "ok").sum())
    assert rated > 0 and scores.rows() == [(0, rated), (1, rated)]
    assert opened[1]["batches"] == opened[2]["batches"] == (rated + 1) // 2
