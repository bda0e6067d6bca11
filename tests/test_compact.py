"""Compaction of the warehouse's tables (warehouse/compact.py), on real DuckDB and Parquet files.

No model runs here: compaction changes how a table's rows are laid out in files, not what a model
writes, so the model stage is `run_batches` with a compute function that makes its rows from the keys
(what the runner commits, and how a resumed run finds what is done, is the same for any model).
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from pathlib import Path

import duckdb
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

import sql
from humpback.cli import app
from inference.runner import StageReport, run_batches
from inference.summary import format_stage
from tests.fake_engine import FakeEngine
from warehouse.compact import compact, compact_table
from warehouse.connect import connect, query
from warehouse.schemas import (
    AUGMENTATIONS,
    COMPACTED_TABLES,
    EVAL_ANSWERS,
    NOT_COMPACTED,
    SCORES,
    SEGMENTS,
    TABLES,
)
from warehouse.store import GENERATIONS, Warehouse, WarehouseBusy
from warehouse.views import connect_views, view_files

# Table macros, called with arguments the scored warehouse has rows for.
MACRO_CALLS = [
    "curated(0, 4)",
    "curated(1, 4.5)",
    "iteration_diff(0, 4)",
    "data_statistics(0, 'direct')",
    "pairs(0, 4, 'direct')",
    "training_pairs(0, 4, 'direct')",
    "leading_verbs(0, 4, 'direct')",
    "length_histogram(0, 4, 'direct')",
    "score_samples(0, 4, 'direct', 2)",
]


ID_SUMMARY = "SELECT count(*), count(DISTINCT {key}), min({key}), max({key}) FROM {table}"


def files(store: Warehouse, table: str) -> list[Path]:
    return sorted(store.table_path(table).glob("**/*.parquet"))


def one(store: Warehouse, text: str) -> tuple:
    con = connect(store)
    try:
        return con.sql(text).fetchall()[0]
    finally:
        con.close()


def split_into_parts(store: Warehouse, table: str, rows_per_part: int = 1) -> int:
    """Rewrite `table` as the model stages leave it: one small file per batch."""
    whole = pa.concat_tables([pq.read_table(p) for p in files(store, table)])
    shutil.rmtree(store.table_dir(table))  # a plain folder in a copied warehouse
    for start in range(0, whole.num_rows, rows_per_part):
        store.append_part(table, whole.slice(start, rows_per_part), f"{table}-{start:06d}")
    return len(files(store, table))


def view_results(store: Warehouse) -> dict[str, list[tuple]]:
    """Every plain view's rows, and the table macros' of MACRO_CALLS."""
    plain = [name for name, text in view_files() if not _body(text).upper().startswith("CREATE")]
    con = connect_views(store)
    try:
        results = {name: con.sql(f"SELECT * FROM {name} ORDER BY ALL").fetchall() for name in plain}
        for call in MACRO_CALLS:
            results[call] = con.sql(f"SELECT * FROM {call} ORDER BY ALL").fetchall()
    finally:
        con.close()
    return results


def _body(text: str) -> str:
    lines = text.lstrip().splitlines()
    while lines and (lines[0].startswith("--") or not lines[0].strip()):
        lines.pop(0)
    return "\n".join(lines)


def test_a_compaction_that_fails_leaves_the_table_and_the_run_alone(tmp_path: Path, monkeypatch) -> None:
    store = Warehouse(tmp_path)
    write_scores(store, range(40), rows_per_part=2)
    before = files(store, "scores")

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("warehouse.compact._MergedWriter.close", full_disk)
    pending = pl.DataFrame({"augmentation_id": ["a-new"], "segment_id": ["s-new"]})
    with store.exclusive():
        report = score_with_fake_engine(store, pending, "s", StageReport(stage="curate"))
    assert report.computed == 1 and report.extra["compaction"].failed
    assert "compaction of scores: " in format_stage(report) and "No space left" in format_stage(report)
    assert set(before) < set(files(store, "scores")) and len(files(store, "scores")) == 21
    assert one(store, "SELECT count(*), count(DISTINCT score_id) FROM scores") == (41, 41)
    assert [p.name for p in store.generations_dir("scores").iterdir()] == [store.table_path("scores").name]


def test_every_table_is_classified() -> None:
    assert set(COMPACTED_TABLES) | set(NOT_COMPACTED) == set(TABLES)
    assert not set(COMPACTED_TABLES) & set(NOT_COMPACTED)


def test_compaction_changes_no_row_and_no_view(scored_warehouse, tmp_path: Path) -> None:
    source, _ = scored_warehouse
    store = Warehouse(tmp_path / "wh")
    shutil.copytree(source.root, store.root)  # links followed: plain folders, as an older warehouse
    parts = {t: split_into_parts(store, t) for t in ("augmentations", "scores")}
    assert parts["scores"] == 10 and parts["augmentations"] == 11
    keys = {"scores": "score_id", "augmentations": "augmentation_id", "segments": "segment_id"}
    ids = {t: one(store, ID_SUMMARY.format(key=k, table=t)) for t, k in keys.items()}
    before = view_results(store)
    assert len(before["candidates"]) == 10 and len(before["curated(0, 4)"]) == 3

    reports = {r.table: r for r in compact(store)}
    scores, augmentations = reports["scores"], reports["augmentations"]
    assert (scores.files_before, scores.files_after, scores.rows) == (10, 1, 10)
    assert (augmentations.files_before, augmentations.files_after) == (11, 1)
    assert reports["segments"].skipped  # the ETL wrote one part: nothing to merge
    assert len(files(store, "scores")) == 1 and store.table_dir("scores").is_symlink()
    assert {t: one(store, ID_SUMMARY.format(key=k, table=t)) for t, k in keys.items()} == ids
    assert view_results(store) == before
    # the merged file has the table's schema, types and nullability included
    assert pq.read_schema(files(store, "scores")[0]).remove_metadata() == SCORES


def test_compaction_is_idempotent(tmp_path: Path) -> None:
    store = Warehouse(tmp_path)
    write_scores(store, range(40), rows_per_part=4)
    first = compact(store, ["scores"])[0]
    assert (first.files_before, first.files_after, first.merged) == (10, 1, 10)
    link = os.readlink(store.table_dir("scores"))
    content = files(store, "scores")
    again = compact(store, ["scores"])[0]
    assert again.skipped and (again.files_before, again.files_after, again.rows) == (1, 1, 40)
    assert os.readlink(store.table_dir("scores")) == link and files(store, "scores") == content


def test_files_are_merged_up_to_the_target_and_big_files_are_left_alone(tmp_path: Path) -> None:
    store = Warehouse(tmp_path)
    write_scores(store, range(100), rows_per_part=10)
    first = compact(store, ["scores"], target_rows=30)[0]
    assert (first.files_before, first.files_after) == (10, 4)  # 30 + 30 + 30 + 10
    merged = [pq.read_table(p) for p in files(store, "scores")]
    assert [t.num_rows for t in merged] == [30, 30, 30, 10]
    order = [i for t in merged for i in t["score_id"].to_pylist()]
    assert order == [f"r{i:06d}" for i in range(100)], "rows in the order of the files, then of their rows"
    full = {p.name: p.stat().st_ino for p in files(store, "scores") if pq.read_metadata(p).num_rows == 30}
    write_scores(store, range(100, 125), rows_per_part=5)
    second = compact(store, ["scores"], target_rows=30)[0]
    assert second.merged == 6  # the 10-row file and the five new ones; the full files are kept
    after = {p.name: p.stat().st_ino for p in files(store, "scores")}
    assert all(after[name] == inode for name, inode in full.items()), "full files: linked, not rewritten"
    assert one(store, "SELECT count(*), count(DISTINCT score_id) FROM scores") == (125, 125)


def test_files_written_before_a_column_was_added_merge_with_it_null(tmp_path: Path) -> None:
    store = Warehouse(tmp_path)
    for start in range(0, 12, 3):  # the first two files predate the column `ifd`
        part = scores_table(range(start, start + 3)).append_column("extra", pa.array(["x"] * 3))
        store.append_part("scores", part.drop_columns(["ifd"]) if start < 6 else part, f"p{start:02d}")
    columns = connect(store).sql("SELECT * FROM scores LIMIT 0").columns
    before = one(store, "SELECT count(*), count(ifd), count(extra) FROM scores")
    compact(store, ["scores"])
    (merged,) = files(store, "scores")
    schema = pq.read_schema(merged)
    assert schema.field("ifd").nullable and not schema.field("score_id").nullable
    assert connect(store).sql("SELECT * FROM scores LIMIT 0").columns == columns
    assert one(store, "SELECT count(*), count(ifd), count(extra) FROM scores") == before == (12, 0, 12)


def test_a_stage_resumed_after_compaction_computes_nothing_twice(tmp_path: Path) -> None:
    store = Warehouse(tmp_path)
    n = 200
    segment_ids = [f"s{i:04d}" for i in range(n)]
    store.append_part("segments", segments_table(segment_ids), "etl")
    augmentations = augmentations_table(segment_ids)
    for start in range(0, n, 8):
        store.append_part("augmentations", augmentations.slice(start, 8), f"a{start:04d}")
    computed: list[str] = []

    def stage(crash_after: int | None = None) -> StageReport:
        with store.exclusive():
            con = connect(store)
            params = {"iteration": 0, "augment_iteration": 0, "augment_model": None, "model": "m",
                      "prompt_version": "p", "mode": "direct"}  # fmt: skip
            pairs = query(con, sql.load("inference/pairs_to_score"), params)
            con.close()
            pending = pairs.filter(~pl.col("done"))
            report = StageReport(stage="curate", already_done=pairs.height - pending.height)
            return score_with_fake_engine(store, pending, "0|m|p|direct", report, crash_after, computed)

    with pytest.raises(KeyboardInterrupt):  # killed after 30 batches: no compaction at the end
        stage(crash_after=30)
    assert len(files(store, "scores")) == 30 and one(store, "SELECT count(*) FROM scores") == (120,)
    assert compact(store, ["scores"])[0].files_after == 1
    assert compact(store, ["augmentations"])[0].files_after == 1

    resumed = stage()
    assert resumed.already_done == 120 and resumed.computed == 80
    assert len(computed) == len(set(computed)) == n, "every pair computed once, across both runs"
    assert resumed.extra["compaction"].merged == 21  # the run's 20 files and the first merge's, at its end
    assert "compaction of scores: 21 -> 1 files, 200 rows" in format_stage(resumed)
    assert one(store, "SELECT count(*), count(DISTINCT augmentation_id) FROM scores") == (n, n)
    assert len(files(store, "scores")) == 1

    again = stage()
    assert again.computed == 0 and again.already_done == n and len(computed) == n
    assert one(store, "SELECT count(*), count(DISTINCT score_id) FROM scores") == (n, n)


def test_readers_never_see_a_row_twice_or_miss_one_while_tables_are_compacted(tmp_path: Path) -> None:
    store = Warehouse(tmp_path)
    write_scores(store, range(50), rows_per_part=5)
    committed = [50]  # rows committed so far: a reader must see at least what was committed before it
    begun = [50]  # rows whose append has begun: a reader may see these, never more
    stop = threading.Event()
    seen: list[tuple[int, int]] = []
    errors: list[BaseException] = []

    def read() -> None:
        raw = duckdb.connect()
        try:
            while not stop.is_set():
                floor = committed[0]
                con = connect(store)  # a fresh connection, as each stage and command opens one
                counts = con.sql("SELECT count(*), count(DISTINCT score_id) FROM scores").fetchall()[0]
                con.close()
                glob = store.table_glob("scores")  # the files listed anew on one long-lived connection
                scan = f"read_parquet('{glob}', union_by_name = true)"
                listed = raw.sql(f"SELECT count(*), count(DISTINCT score_id) FROM {scan}").fetchall()[0]
                ceiling = begun[0]  # an append is visible a moment before `committed` records it
                for count, distinct in (counts, listed):
                    assert count == distinct, f"a row seen twice: {count} rows, {distinct} ids"
                    assert floor <= count <= ceiling, f"{count} rows outside [{floor}, {ceiling}]"
                seen.append(counts)
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)
        finally:
            raw.close()

    readers = [threading.Thread(target=read) for _ in range(2)]
    for reader in readers:
        reader.start()
    compactions = 0
    try:
        with store.exclusive():
            deadline = time.monotonic() + 8
            while time.monotonic() < deadline and not errors:
                start = committed[0]
                for first in range(start, start + 20, 5):
                    begun[0] = first + 5
                    store.append_part("scores", scores_table(range(first, first + 5)), f"b{first}")
                    committed[0] = first + 5
                compactions += compact_table(store, "scores", min_small_files=2).merged > 0
    finally:
        stop.set()
        for reader in readers:
            reader.join()
    if errors:
        raise errors[0]
    assert compactions >= 5 and len(seen) >= 20
    kept = list(store.generations_dir("scores").glob("g*[0-9]"))  # kept for the grace period
    assert len(kept) > compactions
    assert one(store, "SELECT count(*), count(DISTINCT score_id) FROM scores") == (committed[0], committed[0])


def test_a_connection_keeps_reading_the_generation_it_opened_on(tmp_path: Path) -> None:
    store = Warehouse(tmp_path)
    write_scores(store, range(30), rows_per_part=3)
    opened_on = store.table_path("scores")
    con = connect(store)
    compact(store, ["scores"])
    assert store.table_path("scores") != opened_on
    view = con.sql("SELECT sql FROM duckdb_views() WHERE view_name = 'scores'").fetchall()[0][0]
    assert str(opened_on) in view  # the files it listed stay for the grace period
    assert con.sql("SELECT count(*), count(DISTINCT score_id) FROM scores").fetchall() == [(30, 30)]
    con.close()


def test_old_generations_go_after_the_grace_period(tmp_path: Path) -> None:
    store = Warehouse(tmp_path)
    write_scores(store, range(20), rows_per_part=2)
    compact(store, ["scores"])
    generations = store.generations_dir("scores")
    first, current = sorted(p for p in generations.glob("g*") if p.is_dir())
    assert (generations / f"{first.name}.retired").is_file() and store.table_path("scores") == current
    with store.exclusive():
        pass  # within the grace period: kept
    assert first.is_dir()
    quick = Warehouse(tmp_path, grace_seconds=0)
    with quick.exclusive():  # any later run removes what is past the grace period
        pass
    assert not first.exists() and not (generations / f"{first.name}.retired").exists()
    assert current.is_dir() and one(store, "SELECT count(*) FROM scores") == (20,)


def test_a_relative_warehouse_path_keeps_its_current_generation(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    store = Warehouse("wh", grace_seconds=0)
    write_scores(store, range(6), rows_per_part=2)
    compact(store, ["scores"])
    with store.exclusive():  # removes every generation but the current one
        pass
    assert [p.name for p in store.generations_dir("scores").glob("g*")] == [store.table_path("scores").name]
    assert one(store, "SELECT count(*) FROM scores") == (6,)


def test_an_older_warehouse_with_plain_folders_is_migrated(tmp_path: Path) -> None:
    store = Warehouse(tmp_path)
    folder = tmp_path / "scores"
    folder.mkdir()
    for start in range(0, 24, 3):  # written as older versions did: straight into <root>/scores/
        pq.write_table(scores_table(range(start, start + 3)), folder / f"part-{start:04d}.parquet")
    (folder / "notes.txt").write_text("not a table file")
    assert not folder.is_symlink() and one(store, "SELECT count(*) FROM scores") == (24,)
    report = compact(store, ["scores"])[0]
    assert (report.files_before, report.files_after, report.rows) == (8, 1, 24)
    assert folder.is_symlink() and os.readlink(folder).startswith(GENERATIONS + "/scores/")
    assert (folder / "notes.txt").read_text() == "not a table file"  # other files go along
    adopted = [p for p in store.generations_dir("scores").glob("*-adopted") if p.is_dir()]
    assert len(adopted) == 1 and len(list(adopted[0].glob("*.parquet"))) == 8  # kept for the grace period
    assert one(store, "SELECT count(*), count(DISTINCT score_id) FROM scores") == (24, 24)
    store.append_part("scores", scores_table(range(24, 27)), "new")  # appends go on through the link
    assert one(store, "SELECT count(*) FROM scores") == (27,)


def test_replace_table_swaps_generations_and_migrates_a_plain_folder(tmp_path: Path) -> None:
    store = Warehouse(tmp_path)
    (tmp_path / "seeds").mkdir()
    pq.write_table(pa.table({"seed_id": ["old"]}), tmp_path / "seeds" / "seeds.parquet")
    fresh = pa.table({"seed_id": ["a", "b"]})
    store.replace_table("seeds", lambda folder: pq.write_table(fresh, folder / "s.parquet"))
    assert store.table_dir("seeds").is_symlink()
    assert pq.read_table(store.table_path("seeds"))["seed_id"].to_pylist() == ["a", "b"]
    with pytest.raises(ZeroDivisionError):  # a failed build leaves the table as it was
        store.replace_table("seeds", lambda folder: 1 / 0)
    assert pq.read_table(store.table_path("seeds"))["seed_id"].to_pylist() == ["a", "b"]
    generations = [p for p in store.generations_dir("seeds").glob("g*") if p.is_dir()]
    assert len(generations) == 2  # the adopted plain folder, retired, and the current one


def test_parts_replaced_by_name_stay_out_of_the_merge(tmp_path: Path) -> None:
    """eval_answers: model answers by key are merged; an answer file's part, which a reload of the file
    replaces by name, is kept as it is, so the reload still replaces it."""
    store = Warehouse(tmp_path)
    for start in range(0, 12, 3):
        store.append_part("eval_answers", answers_table(range(start, start + 3), "model"), f"{start:064x}")
    loaded = answers_table(range(100, 105), "file")
    store.append_part("eval_answers", loaded, "file-set-digest")
    report = compact(store, ["eval_answers"])[0]
    assert (report.files_before, report.files_after, report.merged) == (5, 2, 4)
    assert (store.table_dir("eval_answers") / "part-file-set-digest.parquet").is_file()
    store.append_part("eval_answers", loaded, "file-set-digest")  # the same file loaded again
    assert one(store, "SELECT count(*), count(DISTINCT answer_id) FROM eval_answers") == (17, 17)


def test_unfinished_writes_are_found_through_the_link_and_never_merged(tmp_path: Path) -> None:
    store = Warehouse(tmp_path)
    write_scores(store, range(8), rows_per_part=2)
    killed = store.table_dir("scores") / ".part-killed.parquet.tmp-123"  # a write a kill cut short
    killed.write_bytes(b"PAR1 half a file")
    assert compact(store, ["scores"])[0].files_after == 1
    assert not killed.exists(), "the new generation does not carry it"
    killed.write_bytes(b"PAR1 half a file")
    assert store.remove_unfinished_writes("scores") == 1 and not killed.exists()
    assert one(store, "SELECT count(*) FROM scores") == (8,)


def test_tables_replaced_by_name_are_not_compacted(tmp_path: Path) -> None:
    store = Warehouse(tmp_path)
    with pytest.raises(ValueError, match="eval_runs is not compacted: part-<eval_id>"):
        compact(store, ["eval_runs"])


def test_compaction_needs_the_lock(tmp_path: Path) -> None:
    store = Warehouse(tmp_path)
    write_scores(store, range(10), rows_per_part=1)
    with pytest.raises(RuntimeError, match="exclusive"):
        compact_table(store, "scores")
    with Warehouse(tmp_path).exclusive(), pytest.raises(WarehouseBusy, match="another run"):
        compact(store, ["scores"])
    assert len(files(store, "scores")) == 10


def test_the_compact_command(tmp_path: Path) -> None:
    store = Warehouse(tmp_path)
    write_scores(store, range(12), rows_per_part=2)
    runner = CliRunner()
    with Warehouse(tmp_path).exclusive():
        busy = runner.invoke(app, ["compact", "--warehouse", str(tmp_path), "--table", "scores"])
    assert busy.exit_code == 2 and "another run is using the warehouse" in busy.output
    assert len(files(store, "scores")) == 6
    done = runner.invoke(app, ["compact", "--warehouse", str(tmp_path), "--table", "scores"])
    assert done.exit_code == 0, done.output
    assert done.output.startswith("scores: 6 -> 1 files, 12 rows, ")
    refused = runner.invoke(app, ["compact", "--warehouse", str(tmp_path), "--table", "models"])
    assert refused.exit_code == 2 and "models is not compacted" in refused.output


# Rows --------------------------------------------------------------------------------------------------
_PROVENANCE = {
    "model": "m",
    "model_source": "test",
    "prompt_version": "p",
    "params": "{}",
    "input_truncated": False,
}


def _filled(rows: dict[str, list], schema: pa.Schema) -> pa.Table:
    n = len(next(iter(rows.values())))
    columns = {f.name: rows.get(f.name, [None] * n) for f in schema}
    return pa.Table.from_pydict(columns, schema=schema)


def scores_table(ids) -> pa.Table:
    ids = list(ids)
    return _filled(
        {
            "score_id": [f"r{i:06d}" for i in ids],
            "augmentation_id": [f"a{i:06d}" for i in ids],
            "segment_id": [f"s{i:06d}" for i in ids],
            "iteration": [0] * len(ids),
            "mode": ["direct"] * len(ids),
            "score": [i % 5 + 1 for i in ids],
            "parse_status": ["ok"] * len(ids),
            "status": ["ok"] * len(ids),
            **{k: [v] * len(ids) for k, v in _PROVENANCE.items()},
            "batch_id": ["b"] * len(ids),
            "created_at": [0] * len(ids),
        },
        SCORES,
    )


def write_scores(store: Warehouse, ids, rows_per_part: int) -> None:
    ids = list(ids)
    for start in range(0, len(ids), rows_per_part):
        chunk = ids[start : start + rows_per_part]
        store.append_part("scores", scores_table(chunk), f"p{chunk[0]:06d}")


def segments_table(segment_ids: list[str]) -> pa.Table:
    n = len(segment_ids)
    return _filled(
        {
            "segment_id": segment_ids,
            "doc_id": ["d"] * n,
            "text": [f"text of {s}" for s in segment_ids],
            "is_duplicate": [False] * n,
            "keep": [True] * n,
            "reasons": [[]] * n,
        },
        SEGMENTS,
    )


def augmentations_table(segment_ids: list[str]) -> pa.Table:
    n = len(segment_ids)
    return _filled(
        {
            "augmentation_id": [f"a-{s}" for s in segment_ids],
            "segment_id": segment_ids,
            "iteration": [0] * n,
            "backward_model": ["few_shot_base"] * n,
            "instruction": [f"Explain {s}." for s in segment_ids],
            "status": ["ok"] * n,
            "sampling_seed": [0] * n,
            **{k: [v] * n for k, v in _PROVENANCE.items()},
            "batch_id": ["a"] * n,
            "created_at": [0] * n,
        },
        AUGMENTATIONS,
    )


def answers_table(ids, origin: str) -> pa.Table:
    ids = list(ids)
    n = len(ids)
    return _filled(
        {
            "answer_id": [f"ans{i:04d}" for i in ids],
            "prompt_id": [f"p{i:04d}" for i in ids],
            "answer_set": [origin] * n,
            "answer_set_label": [origin] * n,
            "answer": ["an answer"] * n,
            "status": ["ok"] * n,
            "origin": [origin] * n,
            **{k: [v] * n for k, v in _PROVENANCE.items()},
            "batch_id": ["b"] * n,
            "created_at": [0] * n,
        },
        EVAL_ANSWERS,
    )


def score_with_fake_engine(
    store: Warehouse,
    pending: pl.DataFrame,
    scope: str,
    report: StageReport,
    crash_after: int | None = None,
    computed: list[str] | None = None,
) -> StageReport:
    """`run_batches` into scores, 4 rows per batch, with a `FakeEngine` that is killed (KeyboardInterrupt,
    as a ^C) after `crash_after` batches, and `fake_scores`: these tests are about which rows the table
    holds across a kill and a compaction, and a fake score makes the rows known in advance."""
    return run_batches(
        warehouse=store,
        table="scores",
        schema=SCORES,
        key="augmentation_id",
        scope=scope,
        pending=pending,
        engine=FakeEngine("m", crash_after=crash_after),
        compute=lambda engine, chunk: fake_scores(chunk, computed if computed is not None else []),
        batch_rows=4,
        report=report,
        show_progress=False,
    )


def fake_scores(chunk: pl.DataFrame, computed: list[str]) -> pl.DataFrame:
    """What a rater returns for a chunk, made from its keys; records every key computed."""
    computed.extend(chunk["augmentation_id"].to_list())
    rows = chunk.select("augmentation_id", "segment_id").with_columns(
        score_id=pl.format("r-{}", "augmentation_id"),
        iteration=pl.lit(0, pl.Int32),
        mode=pl.lit("direct"),
        score=pl.lit(4, pl.Int8),
        parse_status=pl.lit("ok"),
        status=pl.lit("ok"),
        prompt_tokens=pl.lit(10, pl.Int32),
        uncached_tokens=pl.lit(10, pl.Int32),
        completion_tokens=pl.lit(1, pl.Int32),
        **{k: pl.lit(v) for k, v in _PROVENANCE.items()},
    )
    missing = [pl.lit(None).alias(f.name) for f in SCORES if f.name not in rows.columns]
    return rows.with_columns(missing)  # the runner adds batch_id and created_at, and casts


def test_run_stage_skips_done_rows_stamps_provenance_and_holds_the_warehouse(tmp_path: Path) -> None:
    """The model-stage template (`inference/stage.py`) over the fake engine: it computes only the rows
    not done (up to `limit`), stamps every row with the engine's model and the stage's prompt version and
    parameters, and holds the warehouse while it runs, or runs inside a caller's hold."""
    from inference.stage import ModelStage, run_stage

    store = Warehouse(tmp_path / "wh")
    ids = [f"a{i:03d}" for i in range(10)]
    rows = pl.DataFrame(
        {
            "augmentation_id": ids,
            "segment_id": [f"s{i:03d}" for i in range(10)],
            "done": [i < 3 for i in range(10)],
        }
    )
    seen_busy: list[bool] = []

    def compute(engine, chunk: pl.DataFrame) -> pl.DataFrame:
        try:  # another run on the same warehouse is refused while the stage runs
            with Warehouse(store.root).exclusive():
                seen_busy.append(False)
        except WarehouseBusy:
            seen_busy.append(True)
        return fake_scores(chunk, []).drop("model", "model_source", "prompt_version", "params")

    def engine() -> FakeEngine:
        return FakeEngine("m", model_source="the engine's file")

    stage = ModelStage(
        "curate (direct)", "scores", SCORES, "augmentation_id", "0|m|p2|direct", "p2", '{"k": 1}', compute
    )
    report = run_stage(store, engine(), stage, rows=rows, limit=5, batch_rows=2, show_progress=False)
    assert (report.already_done, report.computed, report.batches) == (3, 5, 3)
    assert seen_busy == [True, True, True]
    written = pl.read_parquet(store.table_glob("scores"))
    assert sorted(written["augmentation_id"]) == ids[3:8]
    assert written.select("model", "model_source", "prompt_version", "params").unique().rows() == [
        ("m", "the engine's file", "p2", '{"k": 1}')
    ]
    with store.exclusive():  # inside a command that holds the warehouse already: no second lock
        rows = rows.with_columns(done=pl.col("augmentation_id") < "a008")
        again = run_stage(store, engine(), stage, rows=rows, batch_rows=2, show_progress=False)
    assert (again.already_done, again.computed) == (8, 2)
