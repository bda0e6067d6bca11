"""Self-Instruct: the novelty filter against rouge-score, the parsers and filters, and the whole stage on
the real Self-Instruct seed tasks with the fake engine of tests/fake_engine.py, which continues each
prompt's own examples (a list item after "9.", an input and its output after "Input:"). The stage's
prompts on the real model run through llama-server in test_llama_server.py."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rouge_score import rouge_scorer
from typer.testing import CliRunner

from etl.seeds.tasks import add_seed_tasks, load_embedded_tasks, load_task_file, task_id
from humpback.cli import app
from inference.curate import curate
from inference.prompts.self_instruct import SHOWN, ParsedInstance, parse_instance, parse_numbered_list
from inference.sampling import Sampling
from inference.self_instruct.filters import instruction_status
from inference.self_instruct.generate import generate_instructions
from inference.self_instruct.instances import instance_status
from inference.self_instruct.novelty import THRESHOLD, filter_novel
from tests.fake_engine import FakeEngine
from tests.warehouses import sql as table
from warehouse.exports import export_training
from warehouse.store import Warehouse

SCORER = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
CANDIDATE_STATUSES = {
    "ok",
    "unfinished",
    "empty",
    "too_short",
    "too_long",
    "unsupported",
    "bad_start",
    "similar",
    "no_items",
}
INSTANCE_STATUSES = {
    "ok",
    "unfinished",
    "unparsed",
    "empty_output",
    "same_input_output",
    "duplicate",
    "conflicting_outputs",
}


def exhaustive(pool: list[str], candidates: list[str]) -> list[bool]:
    """Self-Instruct's own filter: rouge-score against every text in the pool, kept ones joining it."""
    texts, kept = list(pool), []
    for text in candidates:
        best = max((SCORER.score(text, other)["rougeL"].fmeasure for other in texts), default=0.0)
        kept.append(best <= THRESHOLD)
        if best <= THRESHOLD:
            texts.append(text)
    return kept


# Words that make near-copies likely: a small vocabulary, repeats, case, punctuation and non-ASCII.
WORDS = st.sampled_from(
    ["the", "a", "list", "write", "Write", "poem", "of", "3", "x", "é", "co-op", "!", "the,"]
)
TEXTS = st.lists(WORDS, min_size=0, max_size=14).map(" ".join)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pool=st.lists(TEXTS, max_size=12), candidates=st.lists(TEXTS, max_size=40))
def test_the_indexed_novelty_filter_decides_as_the_exhaustive_rouge_score_one(
    pool: list[str], candidates: list[str]
) -> None:
    decisions = filter_novel(pool, candidates)
    assert [d.kept for d in decisions] == exhaustive(pool, candidates)
    for offset, decision in enumerate(decisions):
        if not decision.kept:  # the reported neighbour really is that similar, by rouge-score
            other = [*pool, *candidates][decision.nearest]
            assert SCORER.score(candidates[offset], other)["rougeL"].fmeasure == decision.score > THRESHOLD


def test_the_novelty_filter_on_edited_copies_of_the_real_seed_instructions(shared: Path) -> None:
    """Realistic near-copies: one word dropped or swapped in the real seed instructions."""
    seeds = [
        json.loads(line)["instruction"]
        for line in (shared / "seed" / "self_instruct_seed_tasks.jsonl").open()
    ]
    edited = [" ".join(s.split()[1:]) for s in seeds[:60]] + [
        s.replace(" the ", " a ") for s in seeds[60:120]
    ]
    candidates = edited + [s.upper() for s in seeds[120:]]
    decisions = [d.kept for d in filter_novel(seeds[:100], candidates)]
    assert decisions == exhaustive(seeds[:100], candidates)
    assert 0 < sum(decisions) < len(candidates)


# Parsing and filters ----------------------------------------------------------------------------------
def test_an_output_cut_by_the_token_limit_loses_only_its_last_item() -> None:
    completion = (
        " Name three rivers in Asia.\n10. Translate the sentence into French.\n11) Write a haiku about"
    )
    cut = parse_numbered_list(completion, 9, stopped=False)
    assert [(i.number, i.complete) for i in cut] == [(9, True), (10, True), (11, False)]
    assert cut[1].text == "Translate the sentence into French."
    whole = parse_numbered_list(completion, 9, stopped=True)
    assert all(i.complete for i in whole)


def test_list_numbering_that_breaks_or_restarts_stays_inside_the_item() -> None:
    completion = (
        " Explain these steps:\n1. boil water\n2. add tea\n10. Give two tips for sleeping well.\n\n11. x"
    )
    items = parse_numbered_list(completion, 9, stopped=True)
    assert [i.number for i in items] == [9, 10]  # a blank line ends the list
    assert items[0].text == "Explain these steps: 1. boil water 2. add tea"


def test_instances_parse_input_first_and_output_first() -> None:
    assert parse_instance(" 3, 1, 2\nOutput: 1, 2, 3", False, True) == ParsedInstance(
        "3, 1, 2", "1, 2, 3", "ok"
    )
    assert parse_instance(" None\nOutput: Drink water.", False, True).input == ""
    assert parse_instance(" Positive\nInput: I love it.", True, True) == ParsedInstance(
        "I love it.", "Positive", "ok"
    )
    assert parse_instance(" no output line", False, True).status == "unparsed"
    assert parse_instance(" 1, 2\nOutput: 1,", False, False).status == "unfinished"


def test_each_heuristic_gives_its_reason() -> None:
    cases = {
        "Write a haiku about the first snow.": "ok",
        "Hello there": "too_short",
        " ".join(["word"] * 151): "too_long",
        "Draw a cat on a skateboard.": "unsupported",
        "Summarize the attached file in two lines.": "unsupported",
        "Please go  to the bank for me.": "unsupported",
        "Describe the graphic design trends.": "ok",  # 'graph' only as a whole word
        "- List three fruits that are red.": "bad_start",
        "Écris un poème sur la mer.": "bad_start",
        "": "empty",
    }
    frame = pl.DataFrame({"instruction": list(cases), "complete": True})
    got = frame.select(instruction_status(pl.col("instruction"), pl.col("complete"))).to_series().to_list()
    assert dict(zip(cases, got, strict=True)) == cases
    cut = pl.DataFrame({"instruction": ["Write a haiku about the"], "complete": False})
    assert cut.select(instruction_status(pl.col("instruction"), pl.col("complete"))).item() == "unfinished"


def test_instances_that_make_no_training_pair_are_dropped_with_a_reason() -> None:
    rows = [
        ("t1", 0, "2, 1", "1, 2", "ok"),
        ("t1", 1, "2, 1", "1, 2", "ok"),  # the same instance again
        ("t1", 2, "5, 4", "5, 4", "ok"),  # output repeats the input
        ("t2", 0, "", "  ", "ok"),  # empty output
        ("t3", 0, "Is 7 prime?", "Yes", "ok"),
        ("t3", 1, "Is 7 prime?", "No", "ok"),  # one input, two answers
        ("t4", 0, None, None, "unparsed"),
    ]
    frame = pl.DataFrame(rows, schema=["task_id", "sample", "input", "output", "status"], orient="row")
    assert instance_status(frame).to_list() == [
        "ok",
        "duplicate",
        "same_input_output",
        "empty_output",
        "conflicting_outputs",
        "conflicting_outputs",
        "unparsed",
    ]


def test_seed_tasks_load_from_the_self_instruct_file_and_the_embedded_set(
    shared: Path, tmp_path: Path
) -> None:
    path = shared / "seed" / "self_instruct_seed_tasks.jsonl"
    records = [json.loads(line) for line in path.open()]
    load = load_task_file(path)
    assert len(load.rows) == len(records) == 175 and not load.skipped
    for record, row in zip(records, load.rows, strict=True):
        assert row["task_id"] == task_id(record["instruction"])
        assert row["is_classification"] == record["is_classification"]
        assert len(row["instances"]) == len(record["instances"])
    assert len(load_embedded_tasks().rows) == 48
    warehouse = Warehouse(tmp_path / "wh")
    assert add_seed_tasks(warehouse, [path]).added == 175
    again = add_seed_tasks(warehouse, [path])
    assert (again.added, again.already_present, again.total) == (0, 175, 175)


# The stage ---------------------------------------------------------------------------------------------
SHORT = Sampling(temperature=0.7, top_p=0.5, seed=0, max_new_tokens=96)


@pytest.fixture
def fake() -> FakeEngine:
    return FakeEngine()


class FailsOnRound:
    """An engine, with an injected crash: its `map_batches` raises on call number `fail_at`."""

    def __init__(self, engine, fail_at: int) -> None:
        self._engine, self.fail_at, self.calls = engine, fail_at, 0
        self.model_id, self.model_source = engine.model_id, engine.model_source

    def map_batches(self, compute, chunks):
        self.calls += 1
        if self.calls == self.fail_at:
            raise RuntimeError("killed mid-round")
        for index, chunk in enumerate(chunks):
            yield index, compute(self._engine, chunk)


def test_rounds_resumed_after_a_crash_equal_an_uninterrupted_run(
    fake: FakeEngine, shared: Path, tmp_path: Path
) -> None:
    seeds = [shared / "seed" / "self_instruct_seed_tasks.jsonl"]
    whole, resumed = Warehouse(tmp_path / "whole"), Warehouse(tmp_path / "resumed")
    for warehouse in (whole, resumed):
        add_seed_tasks(warehouse, seeds)
    options = {"sampling": SHORT, "prompts_per_round": 3, "show_progress": False}
    generate_instructions(whole, fake, 10_000, max_rounds=2, **options)
    with pytest.raises(RuntimeError, match="killed"):
        generate_instructions(resumed, FailsOnRound(fake, fail_at=2), 10_000, max_rounds=2, **options)
    assert table(resumed, "SELECT max(round) AS r FROM task_candidates")["r"][0] == 1  # round 2 never landed
    report = generate_instructions(resumed, fake, 10_000, max_rounds=1, **options)
    assert report.computed == 3 and report.extra["rounds"] == 1  # only the lost round, its 3 prompts
    columns = "round, prompt_index, item, candidate_id, task_id, instruction, status, similar_to, raw_output"
    order = "ORDER BY round, prompt_index, item"
    assert table(whole, f"SELECT {columns} FROM task_candidates {order}").equals(
        table(resumed, f"SELECT {columns} FROM task_candidates {order}")
    )


def test_self_instruct_grows_the_pool_and_every_row_is_accounted_for(
    shared: Path, tmp_path: Path, fake_engines
) -> None:
    root = tmp_path / "wh"
    runner = CliRunner()
    load = runner.invoke(
        app,
        ["tasks", "load", str(shared / "seed" / "self_instruct_seed_tasks.jsonl"), "--warehouse", str(root)],
    )
    assert load.exit_code == 0, load.output
    args = [
        "self-instruct",
        "--warehouse",
        str(root),
        "--target",
        "4",
        "--prompts-per-round",
        "4",
        "--no-progress",
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "tasks table:" in result.output and "self-instruct: generate" in result.output
    warehouse = Warehouse(root)

    candidates = table(warehouse, "SELECT * FROM task_candidates")
    assert set(candidates["status"]) <= CANDIDATE_STATUSES
    assert candidates["candidate_id"].is_unique().all()
    generated = candidates.filter(pl.col("status") == "ok")
    assert generated.height >= 4 or "stopped short" in result.output
    # every prompt showed 8 pool instructions, at most 2 of them generated
    seed_ids = set(table(warehouse, "SELECT task_id FROM seed_tasks")["task_id"])
    for shown in candidates.unique("generation_id")["shown_task_ids"]:
        assert len(shown) == SHOWN and sum(t not in seed_ids for t in shown) <= 2
    # no accepted instruction is a near-copy of another one in the pool, by rouge-score itself
    pool = table(warehouse, "SELECT instruction FROM seed_tasks")["instruction"].to_list()
    for text in generated.sort("round", "prompt_index", "item")["instruction"]:
        assert max(SCORER.score(text, other)["rougeL"].fmeasure for other in pool) <= THRESHOLD
        pool.append(text)
    for row in candidates.filter(pl.col("status") == "similar").iter_rows(named=True):
        assert row["rouge_l"] > THRESHOLD and row["similar_to"] is not None

    # classification and instances: one decision per generated task, `samples` instances each
    classes = table(warehouse, "SELECT * FROM task_classes")
    assert sorted(classes["task_id"]) == sorted(generated["task_id"])
    assert (classes["is_classification"] == (classes["p_yes"] > 0.5)).all()
    instances = table(
        warehouse, "SELECT i.*, c.is_classification FROM task_instances i JOIN task_classes c USING (task_id)"
    )
    assert instances.height == 2 * generated.height and set(instances["status"]) <= INSTANCE_STATUSES
    assert (instances["output_first"] == instances["is_classification"]).all()

    tasks = table(warehouse, "SELECT * FROM tasks")
    assert tasks.filter(pl.col("origin") == "seed").height == 175
    assert sorted(tasks.filter(pl.col("origin") == "generated")["task_id"]) == sorted(generated["task_id"])
    ok_instances = instances.filter(pl.col("status") == "ok").height
    assert tasks.filter(pl.col("origin") == "generated")["instances"].list.len().sum() == ok_instances

    # a second run finds the target met and computes nothing
    again = runner.invoke(app, args)
    assert again.exit_code == 0, again.output
    assert table(warehouse, "SELECT count(*) AS n FROM task_candidates")["n"][0] == candidates.height
    assert table(warehouse, "SELECT count(*) AS n FROM task_instances")["n"][0] == instances.height

    # the same self-curation, then the export with the Self-Instruct pairs under their own tag
    assert [e.closed for e in fake_engines] == [True, True], "each run opened its model and closed it"
    report = curate(warehouse, FakeEngine(), mode="direct", pairs="self-instruct", show_progress=False)
    assert report.computed == ok_instances > 0
    scores = table(warehouse, "SELECT * FROM task_scores")
    assert scores.height == ok_instances and set(scores["instance_id"]) <= set(instances["instance_id"])
    out = tmp_path / "train.jsonl"
    with_tasks = export_training(warehouse, out, min_score=1, self_instruct=True)
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert with_tasks.by_source.get("self_instruct", 0) == ok_instances == len(rows)
    assert all(r["metadata"]["origin"] == "self_instruct" and r["metadata"]["score_id"] for r in rows)
    assert export_training(warehouse, out, min_score=1).by_source.get("self_instruct") is None
