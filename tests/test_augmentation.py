"""Self-augmentation with the real embedded model: several draws from one reading of a prompt, failed
draws retried with fresh seeds and recorded, and the small version of the augmentation benchmark."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import polars as pl
import pyarrow as pa
import pytest

from etl.seeds.loaders import load_embedded_seeds
from etl.seeds.table import add_seeds
from inference.augment import augment, choose_drawing
from inference.engines import open_engine
from inference.instructions import Drawing, draw_seed, write_instructions
from inference.prompts.backtranslate import build_backtranslate_prompt
from inference.sampling import Sampling, row_seed
from warehouse.connect import connect, query
from warehouse.schemas import SEGMENTS
from warehouse.store import Warehouse

REPO = Path(__file__).resolve().parents[1]
# Of a likelihood gain per token, between batches of another make-up: llama.cpp's sums depend on it.
# Measured up to 0.06 with the -march=native build, and up to 0.145 (2.3 nats over 16 tokens, one row
# of six) with the build without AMX kernels that the Makefile now makes: the rows of the test below,
# each candidate's gain read in its drawing batch, in a batch of its siblings, and alone.
NOISE = 0.2
COPY_PRONE_REQUEST = "Tell me about this topic in a few paragraphs."
# Floors of the small benchmark (see its test for the figures they come from)
FAILURES_FLOOR = 2 / 24  # copied, empty or unfinished rows of the default drawing: at most 2 of 24
RETRIEVAL_GAIN = 0.0  # over one plain draw: +1 to +4 rows of 24 measured, so no loss is the floor
RETRIEVAL_FLOOR = 0.55  # of the human instructions' retrieval
SPEED_FLOOR = 0.25  # of one plain draw's rows per second


@pytest.fixture(scope="module")
def engine():
    engine = open_engine(parallel=8, n_ctx=8192)
    yield engine
    engine.close()


@pytest.fixture(scope="module")
def few_shot() -> tuple[pl.DataFrame, object, frozenset[str]]:
    seeds = load_embedded_seeds().frame()
    prompt = build_backtranslate_prompt(seeds)
    shown = seeds.filter(pl.col("seed_id").is_in(list(prompt.seed_ids)))
    return shown, prompt, frozenset(shown["instruction"].str.strip_chars())


def test_each_prompt_format_has_its_measured_drawing_and_options_override_it() -> None:
    assert choose_drawing("few-shot") == Drawing(candidates=4, attempts=2)
    assert choose_drawing("chat") == Drawing(candidates=2, attempts=2), "the fine-tuned model needs fewer"
    assert choose_drawing("chat", served=True) == Drawing(candidates=1, attempts=2), "no ranking by default"
    assert choose_drawing("few-shot", served=True, candidates=3) == Drawing(candidates=3, attempts=2)
    assert choose_drawing("chat", attempts=5).attempts == 5
    with pytest.raises(ValueError, match="unknown prompt format"):
        choose_drawing("paper")


def test_samples_of_a_row_share_its_reading_and_repeat_from_their_seeds(engine, few_shot) -> None:
    _, prompt, _ = few_shot
    texts = [r["output"] for r in load_embedded_seeds().rows[10:13]]
    suffixes = [prompt.suffix(t) for t in texts]
    seeds = [[11, 12, 13], [21, 22, 23], [31, 32, 33]]
    sampling = Sampling(max_new_tokens=32)
    first = engine.sample(prompt.prefix, suffixes, sampling, seeds, prompt.stop)
    assert [len(row) for row in first] == [3, 3, 3]
    for row in first:
        assert row[0].uncached_tokens > 0 and all(s.uncached_tokens == 0 for s in row[1:]), "read once"
        assert len({s.prompt_tokens for s in row}) == 1
    again = engine.sample(prompt.prefix, suffixes, sampling, seeds, prompt.stop)
    assert [[s.text for s in row] for row in again] == [[s.text for s in row] for row in first]
    assert any(len({s.text for s in row}) > 1 for row in first), "different seeds draw different texts"
    with pytest.raises(ValueError, match="samples"):
        engine.sample(prompt.prefix, suffixes[:1], sampling, [list(range(9))], prompt.stop)


def copy_prone_warehouse(root: Path, shown: pl.DataFrame) -> Warehouse:
    """Seeds whose three prose replies all answer one request, and kept segments that are those
    replies again, several times over (as a corpus repeats a seed's answer): the base model then
    tends to write the examples' request word for word."""
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


def test_copied_instructions_are_drawn_again_and_every_attempt_is_recorded(
    engine, few_shot, tmp_path: Path
) -> None:
    shown, _, _ = few_shot
    warehouse = copy_prone_warehouse(tmp_path / "wh", shown)
    examples = {COPY_PRONE_REQUEST}
    drawing = Drawing(candidates=1, attempts=3, rank=False)
    report = augment(warehouse, engine, drawing=drawing, batch_rows=6, show_progress=False)
    assert report.computed == 4 * shown.height
    con = connect(warehouse)
    rows = query(con, "SELECT * FROM augmentations ORDER BY segment_id")
    con.close()
    first = rows["attempt_statuses"].list.first()
    copied = rows.filter(first == "copied_example")
    assert copied.height >= 2, "this prompt makes the base model copy its examples"
    for row in rows.iter_rows(named=True):
        seeds, statuses = row["attempt_seeds"], row["attempt_statuses"]
        key = f"{row['segment_id']}|0"
        assert seeds == [draw_seed(0, key, a, 0) for a in range(len(seeds))], "recorded, from the key"
        assert seeds[0] == row_seed(0, key), "a row's first draw keeps the seed a single draw had"
        assert len(set(seeds)) == len(seeds)
        # a row is drawn again exactly while its draws fail, at most three times
        assert all(s != "ok" for s in statuses[:-1]) and len(statuses) <= 3
        assert row["status"] == statuses[-1] and row["sampling_seed"] == seeds[-1]
        assert (row["status"] == "ok") == (row["instruction"] is not None)
        assert row["instruction"] is None or row["instruction"] not in examples
    assert (copied["attempt_seeds"].list.len() > 1).all(), "every copy was drawn again"
    assert (copied.filter(pl.col("status") != "ok")["attempt_seeds"].list.len() == 3).all(), "bounded"
    assert rows["prompt_version"].str.contains(r"\+best-of-1x3").all(), "the drawing is in the version"


def test_best_of_k_keeps_the_candidate_its_text_is_likeliest_under(engine, few_shot) -> None:
    from inference.gain import answer_gain
    from inference.prompts.rating import build_rating_prompt

    _, prompt, examples = few_shot
    texts = [r["output"] for r in load_embedded_seeds().rows[20:26]]
    keys = [f"row{i}" for i in range(len(texts))]
    gain_prompt = build_rating_prompt("direct")
    written = write_instructions(
        engine,
        prompt,
        texts,
        keys,
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
        # recomputed in other batches: llama.cpp's sums differ with a batch's make-up (NOISE), so the
        # kept candidate is the best or within that of it
        gains = answer_gain(engine, gain_prompt, good, [text] * len(good))
        kept = gains[good.index(row["instruction"])]
        assert kept >= max(gains) - NOISE and row["gain"] == pytest.approx(kept, abs=NOISE)
        checked += 1
    assert checked >= 3, "most rows had two good candidates to choose from"


# The benchmark's small version ------------------------------------------------------------------------
def test_the_default_drawing_fails_less_and_fits_no_worse_than_one_draw(
    shared: Path, engine, few_shot
) -> None:
    """24 held-out report-split pairs, one plain draw against the default drawing, measured as
    benchmarks/augmentation_quality.py measures them.

    Measured here: the human instructions retrieved their output 0.92 of the time; one plain draw 0.46
    with 1 of 24 rows failed; the default (best of 3, up to 2 rounds) 0.63 with 1 of 24 failed, at
    0.57x the plain draw's rows per second. On the benchmark's 120 report-split rows the same two gave
    0.55 and 0.72. Each row is 0.04 of a figure: the floors leave one to three rows of room. Another
    day (another CPU) gave 0.54 and 0.58 on these 24 rows and 0.51 and 0.76 on the 120: the gain over
    one draw is clear on the benchmark but only one row here, so here the floor is no loss.

    With the build without AMX kernels and the default at best of 4 (2026-12-03, the machine shared
    with another run): ceiling 0.92; plain 0.375 with 1 failed; best of 3 0.67 with 1 failed; best of
    4 0.75 with none failed, at 0.34x the plain draw's rows per second (0.45x expected alone: best of 3
    measured 0.57x, and best of 4 draws a third more). The speed floor leaves room for a busy machine."""
    sys.path.insert(0, str(REPO / "benchmarks"))
    import augmentation_quality as bench

    from inference.augment import DRAWINGS
    from inference.gain import logp_alone
    from inference.prompts.rating import build_rating_prompt

    seeds = load_embedded_seeds().frame()
    _, prompt, examples = few_shot
    rows = bench.held_out(shared, 10, 24, set(seeds["instruction"].str.strip_chars()))
    gain_prompt = build_rating_prompt("direct")
    alone = logp_alone(engine, gain_prompt, rows["output"].to_list())
    ceiling = bench.true_instructions(engine, rows, gain_prompt, alone)["retrieval"]
    plain = bench.measure(engine, engine, prompt, Drawing(), rows, gain_prompt, examples, alone)
    default = bench.measure(engine, engine, prompt, DRAWINGS["few-shot"], rows, gain_prompt, examples, alone)
    assert ceiling >= 0.85, "the human instructions pick their own output"
    assert default["failures"] <= FAILURES_FLOOR, default["statuses"]
    assert default["retrieval"] >= plain["retrieval"] + RETRIEVAL_GAIN, (default, plain)
    assert default["retrieval"] >= RETRIEVAL_FLOOR * ceiling
    assert default["rows_per_second"] >= SPEED_FLOOR * plain["rows_per_second"]
