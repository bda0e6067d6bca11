"""Batch planning: small input files packed into groups, deterministically and stably."""

from __future__ import annotations

import gzip
from pathlib import Path

import polars as pl

from etl.pipeline import run_etl
from etl.plan import group_inputs, plan_batches
from etl.readers import discover_inputs, iter_records
from etl.records import ReadStats
from etl.settings import ReadSettings, Settings

PAGE = (
    "<html><body><article><h2>Section {n}</h2><p>{n} This paragraph is about the care of tomato plants "
    "in a small garden, with watering, light and soil advice that a gardener would follow.</p>"
    "</article></body></html>"
)


def write_pages(folder: Path, names: list[str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / name).write_bytes(gzip.compress(PAGE.format(n=name).encode()))


def groups_of(folder: Path, settings: ReadSettings) -> list[list[str]]:
    files = discover_inputs([folder], ReadStats())
    return [[path.name for _, path in group] for group in group_inputs(files, settings)]


def test_small_files_are_packed_and_the_cuts_survive_an_added_file(tmp_path: Path) -> None:
    names = [f"page-{i:04d}.html.gz" for i in range(300)]
    write_pages(tmp_path / "pages", names)
    settings = ReadSettings()
    groups = groups_of(tmp_path / "pages", settings)
    assert [name for group in groups for name in group] == names  # every file once, in order
    assert len(groups) < len(names) / 10  # packed: a group holds many one-page files
    assert max(map(len, groups)) <= settings.pack_files
    assert groups_of(tmp_path / "pages", settings) == groups  # deterministic

    # A file added in the middle changes its own group only: the others keep their files, so their
    # batches keep their ids and a rerun finds them committed.
    write_pages(tmp_path / "pages", ["page-0150a.html.gz"])
    grown = groups_of(tmp_path / "pages", settings)
    changed = [group for group in grown if group not in groups]
    assert len(changed) == 1 and "page-0150a.html.gz" in changed[0]


def test_a_large_file_is_a_group_of_its_own_and_batches_respect_both_limits(tmp_path: Path) -> None:
    write_pages(tmp_path / "in", ["a.html.gz", "b.html.gz", "c.html.gz"])
    big = tmp_path / "in" / "b.html.gz"
    settings = ReadSettings(pack_bytes=big.stat().st_size + 5, records_per_batch=1000)
    big.write_bytes(big.read_bytes() + b"\0" * 10)  # now over pack_bytes: a group of its own
    assert groups_of(tmp_path / "in", settings) == [["a.html.gz"], ["b.html.gz"], ["c.html.gz"]]

    files = discover_inputs([tmp_path / "in"], ReadStats())
    items = list(iter_records(files, ReadSettings(), ReadStats()))
    sizes = [len(item.payload) for item in items]
    by_bytes = list(plan_batches(items, ReadSettings(max_batch_bytes=sizes[0] + 1)))
    assert [len(batch) for _, batch in by_bytes] == [2, 1]
    by_count = list(plan_batches(items, ReadSettings(records_per_batch=2)))
    assert [len(batch) for _, batch in by_count] == [2, 1]
    assert [batch_id for batch_id, _ in by_count] == [batch_id for batch_id, _ in by_bytes]


def test_a_folder_of_pages_runs_in_few_batches_and_a_file_given_twice_is_read_once(tmp_path: Path) -> None:
    names = [f"p{i:03d}.html.gz" for i in range(120)]
    write_pages(tmp_path / "pages", names)
    inputs = [tmp_path / "pages", tmp_path / "pages" / names[0]]
    report = run_etl(inputs, tmp_path / "wh", Settings(), workers=2, show_progress=False)
    assert report.inputs == 120 and report.records == 120
    assert report.skipped == {"file_given_twice": 1}
    assert report.batches <= 12
    documents = pl.read_parquet(tmp_path / "wh" / "documents" / "*.parquet")
    assert documents.height == 120 and documents["doc_id"].n_unique() == 120
    segments = pl.read_parquet(tmp_path / "wh" / "segments" / "*.parquet")
    assert segments["segment_id"].n_unique() == segments.height
    assert "finalize: write tables" in report.phases and "read, extract, stage, commit" in report.phases

    again = run_etl(inputs, tmp_path / "wh", Settings(), workers=2, show_progress=False)
    assert again.batches_skipped == again.batches == report.batches
