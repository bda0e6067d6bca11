"""The SQL layer: the views of sql/views/ over a real ETL run, and the read-only `humpback sql` command.

The ETL tables come from a real run on the embedded sample. The augmentations and scores are written
by the test with chosen values: these tests check the views' arithmetic, which needs known scores,
not a model's (the model stages are tested in test_inference.py).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from etl.seeds.table import add_seeds
from tests.scored_warehouse import ITERATION_0, ITERATION_1
from warehouse.exports import export_training, load_prompts, overlaps
from warehouse.store import Warehouse
from warehouse.views import QueryRefused, check_read_only, connect_views


@pytest.fixture(scope="module")
def warehouse(scored_warehouse):
    return scored_warehouse


def rows(store: Warehouse, query: str) -> pl.DataFrame:
    con = connect_views(store)
    try:
        return pl.from_arrow(con.sql(query).to_arrow_table())
    finally:
        con.close()


def test_candidates_and_curated_sets_at_whole_and_fractional_thresholds(warehouse) -> None:
    store, _ = warehouse
    candidates = rows(store, "SELECT * FROM candidates WHERE iteration = 0")
    assert candidates.height == 5 and candidates["output"].is_not_null().all()
    assert {"augment_model", "score_model", "score_prompt_version", "url"} <= set(candidates.columns)
    assert rows(store, "SELECT * FROM curated(0, 4)").height == sum(s >= 4 for s, _ in ITERATION_0)
    assert rows(store, "SELECT * FROM curated(0, 5)").height == sum(s >= 5 for s, _ in ITERATION_0)
    assert rows(store, "SELECT * FROM curated(0, 4.5)").height == sum(e >= 4.5 for _, e in ITERATION_0)
    assert rows(store, "SELECT * FROM curated(1, 4)").height == sum(s >= 4 for s, _ in ITERATION_1)


def test_a_model_trained_outside_the_loop_leaves_the_curated_sets_alone(warehouse, tmp_path: Path) -> None:
    """A registered forward model speaks for its iteration: A_k there counts only its scores. A model of an
    experiment (benchmarks/data_value.py) is registered at iteration -1, which no iteration reads."""
    from datetime import UTC, datetime

    import pyarrow as pa

    from warehouse.schemas import MODELS

    store, _ = warehouse
    copy = Warehouse(tmp_path / "wh")
    shutil.copytree(store.root, copy.root, symlinks=True)
    curated = sum(s >= 4 for s, _ in ITERATION_0)

    def register(iteration: int) -> None:
        row = {f.name: None for f in MODELS} | {
            "gguf_sha256": f"experiment-{iteration}", "name": "curated-0", "role": "forward",
            "iteration": iteration, "artifact_key": "k", "base_model": "b", "base_source": "b",
            "train_data": "d", "train_data_hash": "h", "train_rows": 1, "seed_rows": 1, "augmented_rows": 0,
            "heldout_rows": 0, "method": "lora", "settings": "{}", "prompt_format": "f", "steps": 1,
            "train_tokens": 1, "train_seconds": 1.0, "gguf_path": "x.gguf", "gguf_type": "q8_0",
            "batch_id": f"b{iteration}", "created_at": datetime.now(UTC),
        }  # fmt: skip
        copy.append_part("models", pa.Table.from_pylist([row], schema=MODELS), f"m{iteration}")

    register(-1)
    assert rows(copy, "SELECT * FROM curated(0, 4)").height == curated
    register(0)  # a model of iteration 0 that scored nothing: its A_4 is empty
    assert rows(copy, "SELECT * FROM curated(0, 4)").height == 0


def test_iteration_diff_lists_changed_scores_and_curated_status(warehouse) -> None:
    store, _ = warehouse
    diff = rows(store, "SELECT * FROM iteration_diff(0, 4) ORDER BY segment_id")
    changed = [
        (a, b)
        for a, b in zip(ITERATION_0, ITERATION_1, strict=True)
        if a[0] != b[0] or (a[0] >= 4) != (b[0] >= 4)
    ]
    assert diff.height == len(changed)
    assert (diff["curated_before"] == (diff["score_before"] >= 4)).all()
    assert (diff["curated_after"] == (diff["score_after"] >= 4)).all()


def test_score_histogram_shares_sum_to_one_per_iteration(warehouse) -> None:
    store, _ = warehouse
    histogram = rows(store, "SELECT * FROM score_histogram")
    totals = histogram.group_by("iteration").agg(pl.col("n").sum(), pl.col("share").sum()).sort("iteration")
    assert totals["n"].to_list() == [5, 5] and all(abs(s - 1) < 1e-9 for s in totals["share"])


def test_data_statistics_match_a_direct_computation(warehouse) -> None:
    store, _ = warehouse
    stats = {
        r["data"]: r for r in rows(store, "SELECT * FROM data_statistics(0, 'direct')").iter_rows(named=True)
    }
    assert list(stats) == ["seed", "augmented", "A_4", "A_5"]
    seeds = rows(store, "SELECT instruction, output FROM seeds")
    words = seeds["output"].str.count_matches(r"\S+")
    assert stats["seed"]["n"] == seeds.height
    assert stats["seed"]["output_words_mean"] == round(float(words.mean()), 1)
    assert stats["seed"]["output_words_std"] == round(float(words.std()), 1)
    assert stats["augmented"]["n"] == 5, "only clean augmentations count"
    assert stats["A_4"]["n"] == 3 and stats["A_5"]["n"] == 1


def test_duplicate_clusters_name_the_kept_representative(warehouse) -> None:
    store, _ = warehouse
    clusters = rows(store, "SELECT * FROM duplicate_clusters")
    assert clusters.height > 0
    per_cluster = clusters.group_by("dup_cluster").agg(
        pl.col("is_representative").sum().alias("representatives"),
        pl.len().alias("size"),
        pl.col("cluster_size").first(),
    )
    assert (per_cluster["representatives"] == 1).all() and (
        per_cluster["size"] == per_cluster["cluster_size"]
    ).all()
    assert not clusters.filter(pl.col("is_representative") & pl.col("is_duplicate")).height


def test_funnel_view_is_the_etl_summary(warehouse) -> None:
    store, report = warehouse
    funnel = rows(store, "SELECT stage, n FROM funnel ORDER BY step")
    assert list(funnel.iter_rows()) == list(report.final.funnel)


def test_pairs_lengths_and_leading_verbs_of_seed_augmented_and_curated(warehouse) -> None:
    store, _ = warehouse
    n_seeds = rows(store, "SELECT count(*) AS n FROM seeds").item()
    counts = dict(rows(store, "SELECT data, count(*) FROM pairs(1, 4, 'direct') GROUP BY data").iter_rows())
    assert counts == {"seed": n_seeds, "augmented": 5, "curated": sum(s >= 4 for s, _ in ITERATION_1)}

    histogram = rows(store, "SELECT * FROM length_histogram(1, 4, 'direct')")
    totals = histogram.group_by("data", "field").agg(pl.col("n").sum(), pl.col("share").sum())
    assert all(n == counts[data] for data, n in totals.select("data", "n").iter_rows())
    assert all(abs(share - 1) < 1e-9 for share in totals["share"])
    words = rows(store, "SELECT data, output_words FROM pairs(1, 4, 'direct')")
    binned = words.join(histogram.filter(pl.col("field") == "output"), on="data").filter(
        (pl.col("output_words") >= pl.col("words_from")) & (pl.col("output_words") < pl.col("words_to"))
    )
    assert binned.height == words.height, "every length falls in exactly one bin"

    verbs = rows(store, "SELECT * FROM leading_verbs(1, 4, 'direct') WHERE data = 'augmented'")
    assert verbs.row(0, named=True) | {"share": 1.0} == {"data": "augmented", "verb": "explain", "n": 5,
                                                         "share": 1.0, "rank": 1}  # fmt: skip


def test_leading_verbs_skip_courtesy_openings(tmp_path: Path) -> None:
    seeds = tmp_path / "seeds.jsonl"
    instructions = [
        "Please write a poem.",
        "Can you please explain tides?",
        "I want you to list three cities.",
        "Could you write a haiku?",
        "What is rain?",
        "  Write a limerick.",
    ]
    seeds.write_text(
        "".join(json.dumps({"instruction": i, "output": "An answer."}) + "\n" for i in instructions)
    )
    store = Warehouse(tmp_path / "wh")
    add_seeds(store, [seeds])
    verbs = rows(store, "SELECT verb, n FROM leading_verbs(0, 4, 'direct') ORDER BY rank")
    assert dict(verbs.iter_rows()) == {"write": 3, "explain": 1, "list": 1, "what": 1}


def test_score_samples_and_expected_score_bins(warehouse) -> None:
    store, _ = warehouse
    samples = rows(store, "SELECT * FROM score_samples(0, 4.5, 'direct', 1)")
    assert sorted(samples["score"].to_list()) == sorted({s for s, _ in ITERATION_0})  # one per score
    assert (samples["curated"] == (samples["expected_score"] >= 4.5)).all()

    bins = rows(store, "SELECT * FROM expected_score_histogram WHERE iteration = 0")
    expected = (pl.Series([e for _, e in ITERATION_0]) * 4).floor() / 4  # quarter-point bins
    assert dict(bins.select("bin_from", "n").iter_rows()) == dict(expected.value_counts().iter_rows())
    assert abs(bins["share"].sum() - 1) < 1e-9


def test_only_select_statements_run() -> None:
    import duckdb

    con = duckdb.connect()
    check_read_only(con, "WITH x AS (SELECT 1) SELECT * FROM x; EXPLAIN SELECT 1")
    for statement in ("CREATE TABLE t AS SELECT 1", "COPY (SELECT 1) TO 'x.csv'", "INSERT INTO t VALUES (1)",
                      "ATTACH 'x.db'", "SET threads = 1", "SELECT 1; DROP VIEW x"):  # fmt: skip
        with pytest.raises(QueryRefused):
            check_read_only(con, statement)


def humpback_sql(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "humpback.cli", "sql", *args], capture_output=True, text=True
    )


def test_sql_command_prints_writes_and_refuses(warehouse, tmp_path: Path) -> None:
    store, _ = warehouse
    wh = str(store.root)
    shown = humpback_sql("SELECT stage, n FROM funnel ORDER BY step", "--warehouse", wh)
    assert shown.returncode == 0 and "segments kept" in shown.stdout

    query = tmp_path / "q.sql"
    query.write_text("SELECT segment_id, score FROM curated(0, 4) ORDER BY segment_id")
    for suffix in (".csv", ".json", ".parquet"):
        out = tmp_path / f"curated{suffix}"
        assert humpback_sql("--file", str(query), "--warehouse", wh, "--out", str(out)).returncode == 0
        frame = {".csv": pl.read_csv, ".json": pl.read_ndjson, ".parquet": pl.read_parquet}[suffix](out)
        assert frame.height == 3 and frame.columns == ["segment_id", "score"]
    assert json.loads((tmp_path / "curated.json").read_text().splitlines()[0])["score"] >= 4

    outside = tmp_path / "outside.csv"
    outside.write_text("a\n1\n")
    for statement in (
        f"COPY (SELECT * FROM segments) TO '{tmp_path / 'leak.csv'}'",
        "CREATE TABLE x AS SELECT 1",
        f"SELECT * FROM read_csv('{outside}')",
        "SELECT 1; SET enable_external_access = true",
    ):
        refused = humpback_sql(statement, "--warehouse", wh)
        assert refused.returncode == 2 and refused.stderr.startswith("error:"), statement
    assert not (tmp_path / "leak.csv").exists()


# Exports for training ------------------------------------------------------------------------------------
SYSTEM_SEED = "Answer in the style of an AI Assistant."  # the paper's tags
SYSTEM_AUGMENTED = "Answer with knowledge from web search."


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_chat_and_alpaca_exports_tag_seed_and_web_rows(warehouse, tmp_path: Path) -> None:
    store, _ = warehouse
    n_seeds = rows(store, "SELECT count(*) AS n FROM seeds").item()
    chat = export_training(store, tmp_path / "chat.jsonl", iteration=0, min_score=4, fmt="chat")
    assert chat.by_source == {"augmented": 3, "seed": n_seeds}
    records = read_jsonl(tmp_path / "chat.jsonl")
    assert len(records) == n_seeds + 3
    for record in records:
        system, user, assistant = record["messages"]
        assert (system["role"], user["role"], assistant["role"]) == ("system", "user", "assistant")
        seed = record["metadata"]["origin"] == "seed"
        assert system["content"] == (SYSTEM_SEED if seed else SYSTEM_AUGMENTED)
        assert ("seed_id" if seed else "segment_id") in record["metadata"]
        if not seed:
            assert record["metadata"]["score"] >= 4 and record["metadata"]["url"]

    export_training(store, tmp_path / "alpaca.jsonl", iteration=0, min_score=4.5, fmt="alpaca")
    alpaca = read_jsonl(tmp_path / "alpaca.jsonl")
    web = [r for r in alpaca if r["metadata"]["origin"] == "augmented"]
    assert len(web) == sum(e >= 4.5 for _, e in ITERATION_0)
    assert all(set(r) == {"instruction", "input", "output", "system", "metadata"} for r in alpaca)


def test_evaluation_prompts_stay_out_of_training_files(warehouse, shared: Path, tmp_path: Path) -> None:
    store, _ = warehouse
    copy = Warehouse(tmp_path / "wh")
    shutil.copytree(store.root, copy.root)
    vicuna = shared / "eval" / "vicuna_bench_question.jsonl"
    questions = load_prompts(vicuna)
    assert len(questions) == 80
    leaked = tmp_path / "leaked.jsonl"
    edited = questions[3].replace("?", ", in short?").replace("What", "So what")
    leaked.write_text(
        "\n".join(
            json.dumps({"instruction": text, "output": "An answer long enough to be a seed pair."})
            for text in (questions[0], edited, "Name three uses of a paperclip beyond holding paper.")
        )
        + "\n"
    )
    add_seeds(copy, [leaked])
    report = export_training(copy, tmp_path / "clean.jsonl", iteration=0, min_score=4, exclude=vicuna)
    assert report.excluded == 2
    kept = {r["messages"][1]["content"] for r in read_jsonl(tmp_path / "clean.jsonl")}
    assert questions[0] not in kept and edited not in kept
    assert "Name three uses of a paperclip beyond holding paper." in kept
    assert not overlaps(pl.Series(sorted(kept)), questions).any()


def test_overlap_threshold() -> None:
    prompt = ["How can I improve my time management skills at work and at home?"]
    texts = pl.Series(
        [
            "Tips: how can I improve my time management skills at work today",
            "How can I improve my cooking skills?",  # a common phrase only
            "",
        ]
    )
    assert overlaps(texts, prompt).to_list() == [True, False, False]
    short = ["What is a qubit?"]  # under eight words: contained whole
    assert overlaps(
        pl.Series(["Please explain: what is a qubit, briefly", "Is a qubit what?"]), short
    ).to_list() == [
        True,
        False,
    ]
