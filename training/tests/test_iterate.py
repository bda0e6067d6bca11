"""The loop end to end on the embedded sample and the real OpenAssistant seeds, with real training, real
GGUF files and llama.cpp: M_yx augments, M0 curates, M1 (trained on seeds + A^(1)) rescores; a second
run does nothing new."""

from __future__ import annotations

import pytest
from humpback_train.iterate import iterate
from humpback_train.settings import preset

from inference.formats import resolve_prompt_format, trained_backward_model
from warehouse.connect import connect, query
from warehouse.report.build import build_report
from warehouse.views import connect_views

pytestmark = [pytest.mark.train, pytest.mark.model]
K = 1.5  # fractional k: the expected score; low enough that the barely trained M0 keeps pairs in A^(1)
TABLES = ("augmentations", "scores", "models")


def _counts(warehouse) -> dict[str, int]:
    con = connect(warehouse)
    counts = {t: con.sql(f"SELECT count(*) FROM {t}").fetchall()[0][0] for t in TABLES}
    con.close()
    return counts


@pytest.mark.timeout(900)  # about 140 s here: it trains, exports and evaluates three models
def test_iterate_trains_augments_curates_and_rescores_then_does_nothing_new(seeded_warehouse) -> None:
    settings = preset("tiny").with_overrides(max_steps=3, max_length=96)
    run = dict(settings=settings, k=K, sample=8, parallel=4, show_progress=False, log=lambda _: None)
    report = iterate(seeded_warehouse, 2, **run)

    con = connect_views(seeded_warehouse)
    models = query(con, "SELECT * FROM models ORDER BY name").to_dicts()
    assert [(m["name"], m["role"], m["iteration"]) for m in models] == [
        ("M0", "forward", 0),
        ("M1", "forward", 1),
        ("M_yx", "backward", 0),
    ]
    m0, m1, myx = models
    assert m0["augmented_rows"] == 0 and m1["augmented_rows"] > 0  # M1 learned from A^(1)
    assert (
        m1["gguf_sha256"] != m0["gguf_sha256"] and m1["train_data"] == f"training_pairs(0, {K:g}, 'direct')"
    )
    for m in models:
        assert m["base_model"] == models[0]["base_model"] and m["steps"] == 3 and m["gguf_type"] == "q8_0"
        assert m["heldout_loglik_gguf"] is not None and m["final_loss"] is not None

    augmentations = query(con, "SELECT * FROM augmentations")
    assert augmentations.height == 8  # the fixed sample of kept segments
    assert (augmentations["model"] == myx["gguf_sha256"]).all()
    assert (augmentations["backward_model"] == "fine_tuned").all()
    assert augmentations["prompt_version"].str.starts_with("backtranslate-chat-v1:").all()

    scores = query(con, "SELECT iteration, model, count(*) AS n FROM scores GROUP BY ALL ORDER BY iteration")
    clean = int((augmentations["status"] == "ok").sum())
    assert scores.rows() == [(0, m0["gguf_sha256"], clean), (1, m1["gguf_sha256"], clean)]
    a1 = query(con, f"SELECT * FROM curated(0, {K})")
    assert a1.height >= m1["augmented_rows"]  # one row per segment, less the held-out ones
    assert report.curated[0]["pairs"] == a1.height
    diff = query(con, f"SELECT * FROM iteration_diff(0, {K})")
    assert diff.height == report.changed[0]["changed"]
    assert all(1 <= s <= 5 for s in diff["score_before"].to_list() + diff["score_after"].to_list())
    con.close()

    # a trained model is a plain model path: the models table says how to prompt it
    assert resolve_prompt_format("auto", seeded_warehouse, str(m1["gguf_sha256"])) == "chat"
    assert resolve_prompt_format("auto", seeded_warehouse, "0" * 64) == "few-shot"
    found = trained_backward_model(seeded_warehouse)  # what `humpback augment` then uses by default
    assert found is not None and (found["name"], found["gguf_sha256"]) == ("M_yx", myx["gguf_sha256"])
    page = build_report(seeded_warehouse, seeded_warehouse.root / "report.html", k=K).path.read_text()
    trained = page[page.index('<table id="trained">') :]
    assert all(f"<td>{name}</td>" in trained for name in ("M_yx", "M0", "M1"))

    before = _counts(seeded_warehouse)
    again = iterate(seeded_warehouse, 2, **run)
    assert again.trained == 0 and again.computed_rows == 0
    assert _counts(seeded_warehouse) == before
