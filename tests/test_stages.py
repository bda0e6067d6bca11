"""The model stages' own logic on the fake engine (tests/fake_engine.py): which rows a stage computes,
what it writes beside the model's output (statuses, provenance, seeds, attempts), how a rerun, a crash
or a `kill -9` resumes, and the `curate`, `score` and `iterate` commands.

The warehouse, DuckDB, Parquet and the CLI are real; only the model is the fake, whose outputs are pure
functions of their inputs. What depends on the model itself (prompt formats, tokenisation, likelihood
signals, serving) is tested on the real one in test_inference.py, test_curation.py,
test_augmentation.py and test_llama_server.py.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from etl.seeds.loaders import load_embedded_seeds
from etl.seeds.table import add_seeds
from humpback.cli import app
from inference import instructions
from inference.augment import DRAWINGS, augment
from inference.coverage import coverage
from inference.curate import curate
from inference.curation import calibration as calibrations
from inference.gain import answer_gain, logp_alone
from inference.instructions import Drawing, draw_seed, write_instructions
from inference.prompts.backtranslate import INSTRUCTION_STATUSES, build_backtranslate_prompt
from inference.prompts.rating import build_rating_prompt
from inference.sampling import Sampling, row_seed
from tests.fake_engine import MODEL_ID, FakeEngine
from tests.warehouses import pairs_warehouse, seed_pairs, sql
from warehouse.report import build_report
from warehouse.schemas import SEGMENTS
from warehouse.store import Warehouse
from warehouse.views import connect_views

COPY_PRONE_REQUEST = "Tell me about this topic in a few paragraphs."
FAKE_CLI = [sys.executable, "-m", "tests.fake_cli"]


@pytest.fixture
def fake() -> FakeEngine:
    return FakeEngine()


def fake_cli(*args: str) -> list[str]:
    return [*FAKE_CLI, *args]


def fake_env(delay_s: float) -> dict[str, str]:
    return os.environ | {"HUMPBACK_FAKE_DELAY_S": str(delay_s)}


def kill_when(proc: subprocess.Popen, ready, timeout_s: float = 60) -> None:
    """SIGKILL the process group of `proc` once `ready()` is true (or it ended, or the time is up)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and not ready() and proc.poll() is None:
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


# Self-augmentation -------------------------------------------------------------------------------------
def test_augment_writes_clean_instructions_with_provenance(fake, seeded_sample, tmp_path: Path) -> None:
    warehouse = seeded_sample
    pristine = tmp_path / "pristine"
    shutil.copytree(warehouse.root, pristine)
    report = augment(warehouse, fake, limit=6, batch_rows=3, show_progress=False)
    assert (report.computed, report.batches) == (6, 2)
    rows = sql(warehouse, "SELECT a.*, s.keep FROM augmentations a JOIN segments s USING (segment_id)")
    assert rows.height == 6 and rows["keep"].all(), "only kept segments are augmented"
    assert set(rows["status"]) <= INSTRUCTION_STATUSES
    assert ((rows["status"] == "ok") == rows["instruction"].is_not_null()).all(), "no silent empty strings"
    words = [None if text is None else len(text.split()) for text in rows["instruction"]]
    assert rows["instruction_words"].to_list() == words, "each row carries its instruction's length"
    assert (rows["model"] == MODEL_ID).all() and (rows["model_source"] == "fake").all()
    assert rows["prompt_version"].str.starts_with("backtranslate-fewshot-v1:").all()
    params = json.loads(rows["params"][0])
    assert (params["temperature"], params["top_p"]) == (0.7, 0.9)
    assert rows["raw_output"].is_not_null().all()
    few_shot_drawing = DRAWINGS["few-shot"]  # the base model's default
    one_round = rows.filter(pl.col("attempt_seeds").list.len() == few_shot_drawing.candidates)
    assert one_round.height and (one_round["uncached_tokens"] < one_round["prompt_tokens"]).all(), (
        "the prompt's fixed part is read once, and a row's segment once for all its draws"
    )
    assert (rows["attempt_seeds"].list.len() >= few_shot_drawing.candidates).all()
    assert (rows["gain"].is_not_null() == (rows["status"] == "ok")).all(), "each instruction's fit"
    assert params["drawing"] == {
        "attempts": few_shot_drawing.attempts,
        "candidates": few_shot_drawing.candidates,
        "rank": True,
        "questions_only": True,
        "coverage_weight": few_shot_drawing.coverage_weight,
        "floor": few_shot_drawing.floor,
    }
    assert rows.filter(pl.col("status") == "ok")["coverage"].is_between(0, 1).all(), "each choice's coverage"

    again = augment(warehouse, fake, limit=6, batch_rows=3, show_progress=False)
    assert again.already_done == 6 and again.computed == 6, "a rerun only takes rows not yet done"
    assert sql(warehouse, "SELECT count(DISTINCT augmentation_id) AS n FROM augmentations").item() == 12

    repeat = Warehouse(pristine)
    augment(repeat, FakeEngine(), limit=6, batch_rows=2, show_progress=False)
    same = "SELECT segment_id, raw_output, sampling_seed FROM augmentations ORDER BY segment_id"
    assert sql(repeat, same).equals(sql(warehouse, same + " LIMIT 6")), "the run seed makes a run repeatable"


def copy_prone_warehouse(root: Path, shown: pl.DataFrame) -> Warehouse:
    """Seeds whose three prose replies all answer one request, and kept segments that are those
    replies again, several times over (as a corpus repeats a seed's answer)."""
    seed_file = root.parent / "one-request-seeds.jsonl"
    seed_file.write_text(
        "".join(
            json.dumps({"instruction": COPY_PRONE_REQUEST, "output": text}) + "\n"
            for text in shown["output"].to_list()
        )
    )
    rows = [
        {
            "segment_id": f"seg{i:03d}",
            "doc_id": f"doc{i}",
            "text": text,
            "is_duplicate": False,
            "keep": True,
            "reasons": [],
        }
        for i, text in enumerate(shown["output"].to_list() * 4)
    ]
    warehouse = Warehouse(root)
    warehouse.append_part("segments", pa.Table.from_pylist(rows, schema=SEGMENTS), "given")
    add_seeds(warehouse, [seed_file])
    return warehouse


def test_copied_instructions_are_drawn_again_and_every_attempt_is_recorded(tmp_path: Path) -> None:
    """A backward model that copies the prompt's example request in half of its draws (as the base
    model does on this warehouse: the augmentation benchmark counts its copies): every copy is drawn
    again with a fresh seed, at most three times, and every attempt is recorded."""
    seeds = load_embedded_seeds().frame()
    prompt = build_backtranslate_prompt(seeds)
    shown = seeds.filter(pl.col("seed_id").is_in(list(prompt.seed_ids)))
    warehouse = copy_prone_warehouse(tmp_path / "wh", shown)
    examples = {COPY_PRONE_REQUEST}
    drawing = Drawing(candidates=1, attempts=3, rank=False)
    report = augment(warehouse, FakeEngine(copy_rate=0.5), drawing=drawing, batch_rows=6, show_progress=False)
    assert report.computed == 4 * shown.height
    rows = sql(warehouse, "SELECT * FROM augmentations ORDER BY segment_id")
    first = rows["attempt_statuses"].list.first()
    copied = rows.filter(first == "copied_example")
    assert copied.height >= 2, "the copying model copied"
    for row in rows.iter_rows(named=True):
        seeds_, statuses = row["attempt_seeds"], row["attempt_statuses"]
        key = f"{row['segment_id']}|0"
        assert seeds_ == [draw_seed(0, key, a, 0) for a in range(len(seeds_))], "recorded, from the key"
        assert seeds_[0] == row_seed(0, key), "a row's first draw keeps the seed a single draw had"
        assert len(set(seeds_)) == len(seeds_)
        # a row is drawn again exactly while its draws fail, at most three times
        assert all(s != "ok" for s in statuses[:-1]) and len(statuses) <= 3
        assert row["status"] == statuses[-1] and row["sampling_seed"] == seeds_[-1]
        assert (row["status"] == "ok") == (row["instruction"] is not None)
        assert row["instruction"] is None or row["instruction"] not in examples
    assert (copied["attempt_seeds"].list.len() > 1).all(), "every copy was drawn again"
    assert (copied.filter(pl.col("status") != "ok")["attempt_seeds"].list.len() == 3).all(), "bounded"
    assert rows["prompt_version"].str.contains(r"\+best-of-1x3").all(), "the drawing is in the version"


def test_best_of_k_keeps_the_candidate_its_text_is_likeliest_under(fake) -> None:
    seeds = load_embedded_seeds()
    prompt = build_backtranslate_prompt(seeds.frame())
    examples = frozenset(seeds.frame()["instruction"].str.strip_chars())
    texts = [r["output"] for r in seeds.rows[20:26]]
    gain_prompt = build_rating_prompt("direct")
    written = write_instructions(
        fake,
        prompt,
        texts,
        [f"row{i}" for i in range(len(texts))],
        Sampling(),
        Drawing(candidates=3),
        examples=examples,
        gain_prompt=gain_prompt,
    )
    assert (written["attempt_seeds"].list.len() == 3).all()
    checked = 0
    for row, text in zip(written.iter_rows(named=True), texts, strict=True):
        good = [c for c in row["attempt_instructions"] if c is not None]
        assert len(good) == row["attempt_statuses"].count("ok")
        if len(good) < 2:
            continue
        # the fake's likelihoods do not depend on the batch: the kept one is the best, exactly
        gains = answer_gain(fake, gain_prompt, good, [text] * len(good))
        kept = gains[good.index(row["instruction"])]
        assert kept == max(gains) and row["gain"] == pytest.approx(kept)
        assert len(set(gains)) > 1, "the candidates' gains differ, so the choice is a choice"
        checked += 1
    assert checked >= 3, "most rows had two good candidates to choose from"


def test_a_floor_or_a_coverage_weight_needs_ranked_draws() -> None:
    """Without a gain there is nothing to weigh and no score to hold to a floor: such a drawing is
    refused, not recorded under a label that claims a floor."""
    for bad in (dict(candidates=1, floor=1.0), dict(candidates=4, rank=False, floor=1.0)):
        with pytest.raises(ValueError, match="need ranked draws"):
            Drawing(**bad)
    with pytest.raises(ValueError, match="need ranked draws"):
        Drawing(candidates=1, coverage_weight=1.0)
    assert Drawing(candidates=2, coverage_weight=1.0, floor=0.5).label == "best-of-2x1-cover1-floor0.5"


@pytest.mark.parametrize("floor_at", ["none", "median", "above_all"])
def test_a_row_below_the_floor_draws_again_and_then_gets_no_pair(fake, floor_at: str, monkeypatch) -> None:
    """The choice score is the gain plus the weighted coverage; a row whose best draw scores below the
    floor draws a second round, and one still below it after the last round keeps no instruction
    (`not_answered`), while every draw stays recorded."""
    seeds = load_embedded_seeds()
    prompt = build_backtranslate_prompt(seeds.frame())
    texts = [r["output"] for r in seeds.rows[10:30]]
    keys = [f"row{i}" for i in range(len(texts))]
    gain_prompt = build_rating_prompt("direct")
    weighted = Drawing(candidates=2, attempts=2, coverage_weight=1.0)
    first = write_instructions(fake, prompt, texts, keys, Sampling(), weighted, gain_prompt=gain_prompt)
    firsts = [
        weighted.choice(g, c) for g, c in zip(first["gain"], first["coverage"], strict=True) if g is not None
    ]
    floor = {"none": None, "median": sorted(firsts)[len(firsts) // 2], "above_all": 1e9}[floor_at]
    drawing = replace(weighted, floor=floor)
    read_alone: list[str] = []

    def counted_alone(engine, rating, answers, *args):
        read_alone.extend(answers)
        return logp_alone(engine, rating, answers, *args)

    monkeypatch.setattr(instructions, "logp_alone", counted_alone)
    written = write_instructions(fake, prompt, texts, keys, Sampling(), drawing, gain_prompt=gain_prompt)
    assert sorted(read_alone) == sorted(set(read_alone)), "log p(text) read once per row"
    for row, text in zip(written.iter_rows(named=True), texts, strict=True):
        good = [c for c in row["attempt_instructions"] if c is not None]
        if not good:
            assert row["status"] != "ok" and len(row["attempt_seeds"]) == 4
            continue
        gains = answer_gain(fake, gain_prompt, good, [text] * len(good))
        covered = coverage(good, [text] * len(good))
        scores = [drawing.choice(g, c) for g, c in zip(gains, covered, strict=True)]
        first_round = scores[: row["attempt_statuses"][:2].count("ok")]  # this round's good draws, in order
        settled_first = bool(first_round) and (floor is None or max(first_round) >= floor)
        assert len(row["attempt_seeds"]) == (2 if settled_first else 4), "a second round only below the floor"
        if floor is not None and max(scores) < floor:
            assert row["status"] == "not_answered" and row["instruction"] is None
        else:
            assert row["status"] == "ok"
            assert scores[good.index(row["instruction"])] == pytest.approx(max(scores)), "the best is kept"
        assert row["coverage"] is not None and 0 <= row["coverage"] <= 1
    statuses = written["status"].to_list()
    if floor_at == "none":
        assert "not_answered" not in statuses
    if floor_at == "median":
        assert "not_answered" in statuses and "ok" in statuses, "the floor splits the rows"
        assert (written["attempt_seeds"].list.len() == 4).any(), "some rows drew a second round"
    if floor_at == "above_all":
        assert "ok" not in statuses
    assert drawing.label.endswith("-cover1" if floor is None else f"-floor{floor:g}")


# Self-curation ----------------------------------------------------------------------------------------
def test_direct_mode_scores_every_pair_from_the_score_token_probabilities(fake, tmp_path: Path) -> None:
    warehouse = pairs_warehouse(tmp_path / "wh", seed_pairs(10))
    report = curate(warehouse, fake, mode="direct", batch_rows=4, show_progress=False)
    assert report.computed == 10 and report.statuses == {"ok": 10}
    rows = sql(warehouse, "SELECT * FROM scores")
    for row in rows.iter_rows(named=True):
        probs = row["probs"]
        assert len(probs) == 5 and abs(sum(probs) - 1) < 1e-9
        assert row["score"] == 1 + probs.index(max(probs))
        assert abs(row["expected_score"] - sum((k + 1) * p for k, p in enumerate(probs))) < 1e-9
        assert row["parse_status"] == "ok" and row["mode"] == "direct"
    assert rows["score"].n_unique() > 1, "the scores differ, so each row's own probabilities were read"
    assert curate(warehouse, fake, mode="direct", show_progress=False).computed == 0, "nothing twice"


def test_reasoned_mode_keeps_the_raw_output_and_a_parse_status(fake, tmp_path: Path) -> None:
    warehouse = pairs_warehouse(tmp_path / "wh", seed_pairs(4))
    curate(warehouse, fake, mode="direct", show_progress=False)
    report = curate(warehouse, fake, mode="reasoned", show_progress=False)
    assert report.computed == 4
    rows = sql(warehouse, "SELECT * FROM scores WHERE mode = 'reasoned'")
    assert set(rows["parse_status"]) <= {"ok", "no_match", "out_of_range", "truncated"}
    assert rows["raw_output"].is_not_null().all()
    assert ((rows["parse_status"] == "ok") == rows["score"].is_not_null()).all()
    for row in rows.filter(pl.col("parse_status") == "ok").iter_rows(named=True):
        assert row["raw_output"].rstrip().endswith(f"Score: {row['score']}"), "read from the output"
    counts = sql(warehouse, "SELECT mode, count(*) AS n FROM scores GROUP BY 1 ORDER BY 1").rows()
    assert counts == [("direct", 4), ("reasoned", 4)], "the modes' results live side by side"


def test_calibrated_curation_writes_signals_provenance_and_the_calibration(tmp_path: Path) -> None:
    # The fake keeps its own model id: a calibration is kept per model and seed set, in the session's
    # cache, and the real model's tests must never find one the fake fitted.
    engine = FakeEngine()
    warehouse = pairs_warehouse(tmp_path / "wh", seed_pairs(6))
    add_seeds(warehouse)
    report = curate(warehouse, engine, batch_rows=4, show_progress=False)  # the default mode
    assert report.computed == 6 and report.statuses == {"ok": 6}
    fitted = report.extra["calibration"]
    rows = sql(warehouse, "SELECT * FROM scores")
    stored = sql(warehouse, "SELECT * FROM calibrations")
    assert stored.height == 1
    version = stored["calibration"][0]
    assert (rows["mode"] == "calibrated").all() and (rows["calibration"] == version).all()
    assert rows["prompt_version"].str.ends_with(f"+{version}").all()
    assert (rows["model"] == engine.model_id).all()
    assert ((rows["scored_tokens"] == 16) | (rows["scored_tokens"] == rows["answer_tokens"])).all()
    per_token = rows["logp_answer_given_instruction"] / rows["scored_tokens"]
    assert (per_token - rows["logp_answer_given_instruction_per_token"]).abs().max() < 1e-9
    ifd = rows["logp_answer_given_instruction_per_token"] / rows["logp_answer_per_token"]
    assert (ifd - rows["ifd"]).abs().max() < 1e-9
    expected = calibrations.expected_score(rows["p_good"].to_numpy())
    assert (abs(expected - rows["expected_score"].to_numpy()) < 1e-9).all()
    assert (rows["score"].to_numpy() == calibrations.score_of(expected)).all()
    params = json.loads(rows["params"][0])
    assert params["mode"] == "calibrated" and params["likelihood_tokens"] == 16 and params["temperature"] == 0
    record = calibrations.Calibration.from_json(stored["record"][0])
    assert record.version == version and record.model == engine.model_id
    assert fitted["fitted"] is True, "fitted on this warehouse's seeds"
    # the views read calibrated scores as any other mode's
    con = connect_views(warehouse)
    try:
        curated = con.sql("SELECT count(*) FROM curated(0, 4) WHERE mode = 'calibrated'").fetchall()[0][0]
    finally:
        con.close()
    assert curated == sql(warehouse, "SELECT count(*) FROM scores WHERE score >= 4").item()
    assert curate(warehouse, engine, show_progress=False).computed == 0, "nothing twice"

    # the report shows the calibration behind the scores; the curation benchmark measured another model
    # (test_report.py shows its figures for the model it measured)
    page = build_report(warehouse, tmp_path / "report.html").path.read_text()
    assert f"<code>{version}</code>" in page and 'id="benchmark"' not in page
    assert page.count("badge dropped") + page.count("badge curated") == page.count('class="sample')
    # another warehouse with the same seeds finds the fitted calibration instead of fitting again
    other = pairs_warehouse(tmp_path / "other", seed_pairs(2))
    add_seeds(other)
    assert curate(other, engine, show_progress=False).extra["calibration"]["fitted"] is False


# Resume after kill -9 ---------------------------------------------------------------------------------
def test_kill_9_mid_curate_resumes_without_duplicates_or_recomputation(tmp_path: Path) -> None:
    """`humpback curate` in its default (calibrated) mode, killed after its second committed batch: the
    rerun computes only the rest, rewrites no committed batch, and every pair is scored once."""
    pairs = seed_pairs(24)
    root = tmp_path / "wh"
    add_seeds(pairs_warehouse(root, pairs))
    args = ["curate", "--warehouse", str(root), "--batch-rows", "4", "--no-progress"]
    proc = subprocess.Popen(
        fake_cli(*args), start_new_session=True, env=fake_env(0.3),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    parts = root / "scores"
    kill_when(proc, lambda: len(list(parts.glob("part-*.parquet"))) >= 2)
    before = {p.name: p.stat().st_mtime_ns for p in parts.glob("part-*.parquet")}
    committed = sql(root, "SELECT count(*) FROM scores").item()
    assert 8 <= committed < len(pairs), "the kill should land mid-run"

    resumed = subprocess.run(fake_cli(*args), capture_output=True, text=True, env=fake_env(0))
    assert resumed.returncode == 0, resumed.stderr
    assert f"{len(pairs) - committed} rows in" in resumed.stdout
    assert f"{committed} already done" in resumed.stdout
    after = {p.name: p.stat().st_mtime_ns for p in parts.glob("part-*.parquet")}
    assert all(after[name] == mtime for name, mtime in before.items()), "committed batches are not redone"
    assert sql(root, "SELECT count(*), count(DISTINCT score_id) FROM scores").row(0) == (
        len(pairs),
        len(pairs),
    )


# humpback score ---------------------------------------------------------------------------------------
def score_cli(*args: str) -> list[str]:
    return fake_cli("score", *args, "--no-progress")


def test_score_rates_any_instruction_file_and_carries_its_ids(tmp_path: Path) -> None:
    seeds = load_embedded_seeds().rows
    lines = [
        json.dumps({"id": 7, "instruction": seeds[0]["instruction"], "output": seeds[0]["output"]}),
        json.dumps(
            {"id": "b-2", "instruction": seeds[1]["instruction"], "input": "", "output": seeds[1]["output"]}
        ),
        "{this is not json",
        json.dumps({"id": 9, "instruction": "Say hello.", "output": "   "}),
        json.dumps({"instruction": "What is 2 + 2?", "context": "", "response": "2 + 2 is 4."}),
        json.dumps(
            {
                "id": "task-1",
                "instruction": "Classify the sentiment.",
                "instances": [
                    {"input": "I loved it.", "output": "Positive"},
                    {"input": "Awful.", "output": "Negative"},
                ],
            }
        ),
        json.dumps({"something": "else"}),
    ]
    source = tmp_path / "pairs.jsonl"
    source.write_text("\n".join(lines) + "\n")
    out = tmp_path / "scored.jsonl"
    done = subprocess.run(score_cli(str(source), "--out", str(out)), capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["line"] for r in rows] == [1, 2, 3, 4, 5, 6, 6, 7], "every input row, in order"
    assert [r["id"] for r in rows] == [7, "b-2", None, 9, None, "task-1", "task-1", None], "ids as they came"
    statuses = [r["status"] for r in rows]
    assert statuses == ["ok", "ok", "invalid_json", "empty_output", "ok", "ok", "ok", "unknown_shape"]
    versions = set()
    for row in rows:
        scored = row["status"] == "ok"
        assert (row["score"] is not None) == scored and (row["p_good"] is not None) == scored
        if scored:
            assert 1 <= row["score"] <= 5 and row["mode"] == "calibrated" and row["ifd"] is not None
            versions.add(row["calibration"])
    assert len(versions) == 1 and None not in versions, "one calibration behind every score"
    assert "wrote 8 rows" in done.stdout and "invalid_json=1" in done.stdout
    assert not (tmp_path / ".scored.jsonl.humpback-score").exists(), (
        "the work folder goes once the file is written"
    )

    # Parquet in, Parquet out: the same rows and scores
    pq_in = tmp_path / "pairs.parquet"
    pl.DataFrame(
        {
            "id": [10, 11],
            "instruction": [seeds[0]["instruction"], "Say hi."],
            "output": [seeds[0]["output"], ""],
        }
    ).write_parquet(pq_in)
    pq_out = tmp_path / "scored.parquet"
    subprocess.run(score_cli(str(pq_in), "--out", str(pq_out)), capture_output=True, text=True, check=True)
    table = pq.read_table(pq_out)
    assert table.column("id").to_pylist() == [10, 11] and table.column("status").to_pylist() == [
        "ok",
        "empty_output",
    ]
    assert table.column("p_good")[0].as_py() == pytest.approx(rows[0]["p_good"]), "the same pair's score"


def test_a_killed_score_run_resumes_without_rescoring(tmp_path: Path) -> None:
    pairs = seed_pairs(24)
    source = tmp_path / "pairs.jsonl"
    source.write_text(
        "".join(json.dumps({"id": i, "instruction": q, "output": a}) + "\n" for i, (q, a) in enumerate(pairs))
    )
    out = tmp_path / "scored.parquet"
    command = score_cli(str(source), "--out", str(out), "--mode", "direct", "--batch-rows", "4")
    proc = subprocess.Popen(
        command, start_new_session=True, env=fake_env(0.3),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    work = tmp_path / ".scored.parquet.humpback-score"
    kill_when(proc, lambda: len(list(work.glob("*/pair_scores/part-*.parquet"))) >= 2)
    before = {p: p.stat().st_mtime_ns for p in work.glob("*/pair_scores/part-*.parquet")}
    assert 2 <= len(before) < 6 and not out.exists(), "the kill should land mid-run"
    resumed = subprocess.run(command, capture_output=True, text=True, env=fake_env(0))
    assert resumed.returncode == 0, resumed.stderr
    committed = 4 * len(before)
    assert (
        f"{len(pairs) - committed} rows in" in resumed.stdout
        and f"{committed} already done" in resumed.stdout
    )
    result = pl.read_parquet(out)
    assert result["id"].to_list() == list(range(24)) and (result["status"] == "ok").all()
    assert result["score"].is_not_null().all()


def _pairs_file(path: Path, pairs: list[tuple[str, str]], extra: list[str] = ()) -> Path:
    lines = [json.dumps({"id": i, "instruction": q, "output": a}) for i, (q, a) in enumerate(pairs)]
    path.write_text("\n".join([*lines, *extra]) + "\n")
    return path


def test_likelihood_measures_each_model_on_every_pair_and_keeps_bad_rows(
    fake_engines, tmp_path: Path
) -> None:
    pairs = seed_pairs(12)
    bad = ["{broken", json.dumps({"id": "empty", "instruction": "Say hi.", "output": " "})]
    source = _pairs_file(tmp_path / "pairs.jsonl", pairs, bad)
    shuffled = _pairs_file(
        tmp_path / "shuffled.jsonl", [(q, pairs[i - 1][1]) for i, (q, _) in enumerate(pairs)]
    )
    models = [tmp_path / "a.gguf", tmp_path / "b.gguf"]
    for model in models:
        model.write_bytes(b"")  # the fake engine opens any file
    means = {}
    for name, path in (("matched", source), ("shuffled", shuffled)):
        out = tmp_path / f"{name}.json"
        args = [
            "likelihood",
            str(path),
            "--model",
            str(models[0]),
            "--model",
            str(models[1]),
            "--out",
            str(out),
        ]
        result = CliRunner().invoke(app, [*args, "--no-progress"])
        assert result.exit_code == 0, result.output
        document = json.loads(out.read_text())
        first, second = document["models"]
        assert [first["model"], second["model"]] == [str(m) for m in models]
        assert first["n"] == second["n"] == 12 and first["diff_vs_first"] == 0 and first["diff_ci"] == [0, 0]
        assert first["ci"][0] < first["mean"] < first["ci"][1] < 0
        means[name] = first["mean"]
        assert not (tmp_path / f".{name}.json.humpback-likelihood").exists(), "the work folder goes"
    rows = json.loads((tmp_path / "matched.json").read_text())["pairs"]
    assert [r["id"] for r in rows] == [*range(12), None, "empty"], "every input row, in order"
    assert [r["status"] for r in rows[-2:]] == ["invalid_json", "empty_output"]
    assert all(v is None for r in rows[-2:] for v in r["values"].values())
    assert all(r["values"][str(models[0])] < 0 for r in rows[:12])
    assert "mean log-likelihood per output token, on the 12 pairs" in result.output
    # the output is read after its own instruction: the fake engine finds words it has seen likelier
    assert means["matched"] > means["shuffled"]


def test_likelihood_resumes_from_its_store_and_names_a_missing_model(fake_engines, tmp_path: Path) -> None:
    from etl.seeds.loaders import read_pair_rows
    from inference.engines import open_engine
    from inference.likelihood import LikelihoodPrompt, compare_models

    rows = read_pair_rows(_pairs_file(tmp_path / "pairs.jsonl", seed_pairs(10)))
    store = Warehouse(tmp_path / "store")
    prompt = LikelihoodPrompt.build("combined", 64)
    first = compare_models(
        rows, ["m"], lambda _: open_engine(), store, prompt, batch_rows=4, show_progress=False
    )
    again = compare_models(
        rows, ["m"], lambda _: open_engine(), store, prompt, batch_rows=4, show_progress=False
    )
    assert first.stages[0].computed == 10 and again.stages[0].computed == 0
    assert again.stages[0].already_done == 10
    assert again.summary.pairs.equals(first.summary.pairs)
    other = LikelihoodPrompt.build("none", 64)  # another prompt is another value
    third = compare_models(
        rows, ["m"], lambda _: open_engine(), store, other, batch_rows=4, show_progress=False
    )
    assert third.stages[0].computed == 10

    result = CliRunner().invoke(app, ["likelihood", str(tmp_path / "pairs.jsonl"), "--model", "nowhere.gguf"])
    assert result.exit_code != 0 and "nowhere.gguf" in result.output


# The loop's command -------------------------------------------------------------------------------------
def test_iterate_rejects_ray_options_without_ray_before_training(tmp_path: Path) -> None:
    """A wrong engine option fails at once, not after the backward model's minutes of training."""
    runner = CliRunner()
    result = runner.invoke(app, ["iterate", "--warehouse", str(tmp_path), "--address", "auto"])
    assert result.exit_code == 2 and "--address needs --engine ray" in result.output
    result = runner.invoke(app, ["iterate", "--warehouse", str(tmp_path), "--engine", "spark"])
    assert result.exit_code == 2 and "choose local or ray" in result.output
    assert not (tmp_path / "models").exists()
