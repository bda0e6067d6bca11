"""Self-augmentation with the real embedded model: several draws from one reading of a prompt, and the
small version of the augmentation benchmark. The drawing's own logic (retries of failed draws, the
choice among candidates, what is recorded) runs on the fake engine in test_stages.py."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from etl.seeds.loaders import load_embedded_seeds
from inference.augment import choose_drawing
from inference.engines import open_engine
from inference.instructions import Drawing
from inference.prompts.backtranslate import build_backtranslate_prompt
from inference.sampling import Sampling

# Floors of the small benchmark (see its test for the figures they come from)
FAILURES_FLOOR = 2 / 24  # copied, empty or unfinished rows of the default drawing: at most 2 of 24
RETRIEVAL_GAIN = 0.0  # over one plain draw: +1 to +4 rows of 24 measured, so no loss is the floor
RETRIEVAL_FLOOR = 0.55  # of the human instructions' retrieval


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
    assert choose_drawing("chat") == Drawing(candidates=4, attempts=2, coverage_weight=1.0, floor=1.0)
    assert choose_drawing("chat", served=True) == Drawing(candidates=1, attempts=2), "no ranking by default"
    assert choose_drawing("few-shot", served=True, candidates=3) == Drawing(candidates=3, attempts=2)
    assert choose_drawing("chat", attempts=5).attempts == 5
    assert choose_drawing("chat", candidates=1).floor is None, "a single draw has no score to hold to a floor"
    assert (
        choose_drawing("chat", floor=0.5).floor == 0.5 and choose_drawing("chat", no_floor=True).floor is None
    )
    assert choose_drawing("few-shot", floor=0.5).label.endswith("-floor0.5"), "the floor is in the version"
    with pytest.raises(ValueError, match="need ranked draws"):
        choose_drawing("chat", served=True, floor=0.5)  # one draw reads no gain to hold to it
    with pytest.raises(ValueError, match="not both"):
        choose_drawing("chat", floor=0.5, no_floor=True)
    with pytest.raises(ValueError, match="unknown prompt format"):
        choose_drawing("paper")


@pytest.mark.model
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


# The benchmark's small version ------------------------------------------------------------------------
@pytest.mark.model
@pytest.mark.slow
@pytest.mark.timeout(600)  # about 120 s here: three drawings of 24 rows, each ranked by likelihood
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
    measured 0.57x, and best of 4 draws a third more). The speed is the benchmark's to measure
    (benchmarks/augmentation_quality.py prints rows per second for each drawing)."""
    from benchmarks import augmentation_quality as bench
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


# The labelled set of real engine pairs (tests/data/answered_pairs) -------------------------------------
def test_the_labelled_pairs_follow_their_rule_and_halves() -> None:
    """Every row of the labelled set is readable by benchmarks/augmentation_answered.py: one reason of the
    rule, a label that agrees with it, its page's half, and a third reading wherever two disagreed."""
    from benchmarks.augmentation_answered import LABELS, REASONS, page_half, page_name, read_labels

    rows = pl.read_ndjson(LABELS)
    assert rows.height >= 300
    assert set(rows["reason"]) <= set(REASONS)
    assert rows.select((pl.col("label") == "good") == (pl.col("reason") == "good")).to_series().all()
    assert rows["half"].to_list() == [page_half(s) for s in rows["source"]]
    assert {"tune", "report"} == set(rows["half"])
    assert rows.select("text_hash", "instruction").is_unique().all(), "a label belongs to one exact pair"
    for readings, settled, reason in rows.select("readings", "settled", "reason").iter_rows():
        disagree = len(readings) >= 2 and (readings[0] == "good") != (readings[1] == "good")
        assert settled == disagree and (not settled or (len(readings) == 3 and reason == readings[2]))
    labels = read_labels()
    assert labels["text_hash"].dtype == pl.UInt64
    assert labels["page"].to_list() == [page_name(s) for s in rows["source"]], "the expression agrees"


def test_the_curation_benchmark_on_real_pairs_counts_its_selections() -> None:
    """benchmarks/curation_answered.py's figures: the good share, the AUROC of the expected score against
    the labels, and the precision and recall of A_4 and A_5, on a frame whose answers are known."""
    from benchmarks.curation_answered import figures

    scored = pl.DataFrame(
        {
            "good": [True, True, True, False, False, False, False, True],
            "expected_score": [5.0, 4.2, 2.0, 5.0, 4.5, 3.0, 1.0, 4.9],
            "score": [5, 4, 2, 5, 4, 3, 1, 4],  # A_k of a whole k reads the score, as the engine's sets do
        }
    )
    result = figures(scored)
    assert result["pairs"] == 8 and result["good_share"] == 0.5
    assert result["a4_kept"] == 5 and result["a4_precision"] == pytest.approx(3 / 5)
    assert result["a4_recall"] == pytest.approx(3 / 4)
    assert result["a5_kept"] == 2 and result["a5_precision"] == 0.5 and result["a5_recall"] == 0.25
    # of the 16 (good, bad) pairings the good one scores higher in 9 (3 + 2 + 1 + 3), and 1 is a tie
    assert result["auroc"] == pytest.approx(9.5 / 16)
