"""Seed loaders on the real seed files in ../shared/data/seed, and the embedded set."""

from __future__ import annotations

import json
import re
from pathlib import Path

from etl.seeds.loaders import load_embedded_seeds, load_seed_file
from etl.seeds.table import add_seeds
from warehouse.connect import connect, query
from warehouse.store import Warehouse


def test_oasst_takes_the_first_turn_and_its_rank0_english_reply(shared: Path) -> None:
    path = shared / "seed" / "oasst_en_100_tree.jsonl"
    trees = [json.loads(line) for line in path.read_text().splitlines()]
    load = load_seed_file(path)
    ranked = [t for t in trees if any(r.get("rank") == 0 for r in t["prompt"]["replies"])]
    assert len(load.rows) == len(ranked) and load.skipped == {
        "oasst_no_rank0_reply": len(trees) - len(ranked)
    }
    by_prompt = {row["instruction"]: row for row in load.rows}
    for tree in ranked:
        best = next(r for r in tree["prompt"]["replies"] if r.get("rank") == 0)
        row = by_prompt[tree["prompt"]["text"].strip()]
        assert row["output"] == best["text"].strip() and row["source_format"] == "oasst"
        assert row["source_ref"].endswith(best["message_id"])


def test_oasst_skips_other_languages(tmp_path: Path, shared: Path) -> None:
    tree = json.loads((shared / "seed" / "oasst_en_100_tree.jsonl").read_text().splitlines()[0])
    tree["prompt"]["lang"] = "de"
    path = tmp_path / "de.jsonl"
    path.write_text(json.dumps(tree) + "\n")
    load = load_seed_file(path)
    assert load.rows == [] and load.skipped == {"oasst_lang_de": 1}


def test_self_instruct_and_dolly_shapes(shared: Path) -> None:
    tasks = load_seed_file(shared / "seed" / "self_instruct_seed_tasks.jsonl")
    assert len(tasks.rows) >= 175 and {r["source_format"] for r in tasks.rows} == {"self_instruct"}
    with_input = [r for r in tasks.rows if "\n\n" in r["instruction"]]
    assert with_input, "a task's instance input follows its instruction after a blank line"
    dolly = load_seed_file(shared / "seed" / "dolly_subset151_parsed.jsonl")
    assert len(dolly.rows) == 151
    assert not any(r["output"].endswith("###eos_token###") for r in dolly.rows)


def test_plain_jsonl_bad_lines_are_counted_not_lost(tmp_path: Path) -> None:
    path = tmp_path / "mine.jsonl"
    path.write_text(
        '{"instruction": "Name a prime number.", "output": "7 is prime."}\n'
        "{not json\n"
        '{"instruction": "", "output": "orphan"}\n'
        '{"question": "wrong shape"}\n'
        '{"instruction": "Name a prime number.", "output": "7 is prime."}\n'
    )
    load = load_seed_file(path)
    assert len(load.rows) == 1
    assert load.skipped == {
        "invalid_json": 1,
        "empty_instruction_or_output": 1,
        "unknown_shape": 1,
        "duplicate": 1,
    }


def test_embedded_seed_set_is_varied() -> None:
    rows = load_embedded_seeds().rows
    assert len(rows) >= 40
    assert len({r["category"] for r in rows}) >= 10
    assert all(len(r["output"].split()) >= 5 for r in rows)


def test_web_seed_pairs_are_requests_their_web_passages_answer() -> None:
    """`make etl`'s second seed file: our own pairs whose output reads like a passage of a web page (a
    how-to, a recipe, a product page, a news story), so the backward model learns the requests web
    segments answer. Every line is a pair, none repeats an embedded one, the kinds are varied, and no
    instruction points at a text it does not contain."""
    web = load_seed_file(Path(__file__).resolve().parents[1] / "etl" / "seeds" / "web_seeds.jsonl")
    assert len(web.rows) >= 300 and not web.skipped
    assert not {r["seed_id"] for r in web.rows} & {r["seed_id"] for r in load_embedded_seeds().rows}
    assert {"news", "product", "recipe", "how_to", "faq"} <= {r["category"] for r in web.rows}
    assert not [r for r in web.rows if "\n\n" in r["instruction"]], "no pair carries an input of its own"
    assert all(25 <= len(r["output"].split()) <= 250 for r in web.rows), "a web segment may be short"
    pointing = re.compile(r"(?i)\bthe following\b|\bthis (text|article|passage|page)\b|summari[sz]e this")
    assert not [r["instruction"] for r in web.rows if pointing.search(r["instruction"])]
    by_path = load_seed_file(Path(__file__).resolve().parents[1] / "etl" / "seeds" / "embedded_seeds.jsonl")
    assert by_path.rows == load_embedded_seeds().rows, "the embedded file named by path stays `embedded`"


def test_adding_seeds_twice_keeps_each_pair_once(tmp_path: Path, shared: Path) -> None:
    warehouse = Warehouse(tmp_path / "wh")
    first = add_seeds(warehouse)
    again = add_seeds(warehouse)
    oasst = add_seeds(warehouse, [shared / "seed" / "oasst_en_100_tree.jsonl"])
    assert first.added == first.total >= 40 and again.added == 0 and again.already_present == first.total
    con = connect(warehouse)
    counts = query(con, "SELECT source_format, count(*) AS n FROM seeds GROUP BY 1 ORDER BY 1").rows()
    assert dict(counts) == {"embedded": first.total, "oasst": oasst.added}
    assert query(con, "SELECT count(*) - count(DISTINCT seed_id) FROM seeds").item() == 0
