"""End-to-end runs of the ETL on the embedded sample, the real shared data and a bad-input corpus."""

from __future__ import annotations

import functools
import gzip
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest
from lxml import html as lxml_html
from typer.testing import CliRunner

from etl import pipeline
from etl.code_errors import CodeErrorWatch, EtlCodeError, PageError
from etl.pipeline import LocalEngine, run_etl
from etl.records import Failure, RawRecord
from etl.sample_corpus.build_warc import MANIFEST, page_url
from etl.settings import Settings, load_settings
from etl.task import run_batch
from etl.worker import PageTimeout, process_batch, time_limit
from tests.conftest import copy_warehouse
from tests.test_readers import html_responses
from warehouse.store import Warehouse, WarehouseBusy


def query(warehouse: Path, sql: str) -> list[tuple]:
    con = duckdb.connect()
    for table in ("documents", "segments", "rejects"):
        con.execute(f"CREATE VIEW {table} AS SELECT * FROM read_parquet('{warehouse}/{table}/**/*.parquet')")
    return con.execute(sql).fetchall()


def one(warehouse: Path, sql: str):
    return query(warehouse, sql)[0][0]


@pytest.fixture(scope="module")
def sample_run(sample_etl, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    """A copy of the session's ETL run on the embedded sample, and its report (this module reruns it)."""
    warehouse = tmp_path_factory.mktemp("sample-wh") / "wh"
    copy_warehouse(sample_etl.root, warehouse)
    return warehouse, sample_etl.report


def test_sample_corpus_every_page_is_accounted_for(sample_run) -> None:
    warehouse, report = sample_run
    pages = one(warehouse, "SELECT count(*) FROM documents") + one(warehouse, "SELECT count(*) FROM rejects")
    assert pages == report.records == 39
    assert one(warehouse, "SELECT count(*) FROM segments WHERE keep") > 50


def test_sample_corpus_duplicates_are_flagged_not_dropped(sample_run) -> None:
    warehouse, _ = sample_run
    for original, mirror in zip(
        MANIFEST["near_duplicate_original"], MANIFEST["near_duplicate_mirror"], strict=True
    ):
        flagged = one(
            warehouse,
            f"""SELECT count(*) FILTER (WHERE s.is_duplicate) FROM segments s JOIN documents d USING (doc_id)
                WHERE d.url IN ('{page_url(original)}', '{page_url(mirror)}') AND s.n_words >= 30""",
        )
        assert flagged >= 2, f"{mirror} should duplicate {original}"
    copy = MANIFEST["exact_duplicate_copy"][0]
    original = MANIFEST["exact_duplicate_original"][0]
    rows = query(
        warehouse,
        f"""SELECT d.url, s.is_duplicate, s.dup_cluster FROM segments s JOIN documents d USING (doc_id)
            WHERE d.url IN ('{page_url(copy)}', '{page_url(original)}') AND s.n_words >= 30""",
    )
    # Each cluster keeps exactly one member: one page's copy of every segment stays.
    by_cluster: dict[str, list[bool]] = {}
    for _, is_dup, cluster in rows:
        by_cluster.setdefault(cluster, []).append(is_dup)
    assert by_cluster and all(sorted(v) == [False, True] for v in by_cluster.values())


def test_sample_corpus_languages_and_header_paths(sample_run) -> None:
    warehouse, _ = sample_run
    foreign = query(
        warehouse, "SELECT DISTINCT lang FROM segments WHERE list_contains(reasons, 'lang:' || lang)"
    )
    assert {"fr", "de"} <= {row[0] for row in foreign}
    paths = {row[0] for row in query(warehouse, "SELECT header_path FROM segments")}
    assert any(p.count(" > ") >= 2 for p in paths)
    assert one(warehouse, "SELECT count(*) FROM segments WHERE header = '' AND position = 0") >= 1


def test_rerun_adds_nothing_and_new_thresholds_do_not_reextract(sample_run, sample_warc: Path) -> None:
    warehouse, first = sample_run
    counts = [one(warehouse, f"SELECT count(*) FROM {t}") for t in ("documents", "segments", "rejects")]
    kept = one(warehouse, "SELECT count(*) FROM segments WHERE keep")
    again = run_etl([sample_warc], warehouse, Settings(), workers=2, show_progress=False)
    assert again.batches_skipped == again.batches == first.batches
    assert [
        one(warehouse, f"SELECT count(*) FROM {t}") for t in ("documents", "segments", "rejects")
    ] == counts
    assert one(warehouse, "SELECT count(*) - count(DISTINCT segment_id) FROM segments") == 0

    loose = load_settings(None, ["quality.min_words=5", "quality.min_chars=20", "language.keep=en,fr,de"])
    relaxed = run_etl([sample_warc], warehouse, loose, workers=2, show_progress=False)
    assert relaxed.batches_skipped == relaxed.batches  # thresholds apply at finalize: nothing re-extracted
    assert one(warehouse, "SELECT count(*) FROM segments WHERE keep") > kept
    run_etl([sample_warc], warehouse, Settings(), workers=2, show_progress=False)  # back to the defaults
    assert one(warehouse, "SELECT count(*) FROM segments WHERE keep") == kept


def test_a_second_run_on_a_busy_warehouse_is_refused(sample_warc: Path, tmp_path: Path) -> None:
    with Warehouse(tmp_path).exclusive(), pytest.raises(WarehouseBusy, match="another run"):
        run_etl([sample_warc], tmp_path, Settings(), workers=1, show_progress=False)
    run_etl([sample_warc], tmp_path, Settings(), workers=1, show_progress=False)  # free again
    assert one(tmp_path, "SELECT count(*) FROM documents") == 39


def test_readability_pages_headers_match_expected(shared: Path, tmp_path: Path) -> None:
    """The headers of our segments against the headers of readability's expected main content.

    Measured: mean agreement 0.805 over the 80 pages whose expected HTML has headers (fast mode);
    trafilatura drops the headings of about a sixth of them. The floor leaves room for noise.
    """
    pages = sorted((shared / "html" / "mozilla_readability" / "test-pages").glob("*/source.html.gz"))
    run_etl(pages, tmp_path, Settings(), workers=2, show_progress=False)
    rows = query(tmp_path, "SELECT d.source, s.header FROM segments s JOIN documents d USING (doc_id)")
    headers: dict[str, set[str]] = {}
    for source, header in rows:
        headers.setdefault(source, set()).add(header)
    agreement = []
    for page in pages:
        expected_html = gzip.decompress(page.with_name("expected.html.gz").read_bytes()).decode("utf-8")
        tree = lxml_html.fromstring(expected_html)
        expected = [" ".join(h.text_content().split()) for h in tree.iter("h1", "h2", "h3", "h4", "h5", "h6")]
        expected = [h for h in expected if h]
        if expected:
            got = headers.get(str(page), set())
            agreement.append(sum(h in got for h in expected) / len(expected))
    assert len(agreement) >= 70
    assert statistics.mean(agreement) >= 0.75
    assert statistics.median(agreement) == 1.0


def test_real_warcs_every_html_response_is_accounted_for(shared: Path, tmp_path: Path) -> None:
    warcs = shared / "warc"
    report = run_etl([warcs], tmp_path, Settings(), workers=2, show_progress=False)
    for path in sorted(warcs.glob("*.warc.gz")):
        expected = 29 if "clueweb" in path.name else html_responses(path)
        accounted = one(
            tmp_path,
            f"""SELECT (SELECT count(*) FROM documents WHERE source LIKE '{path}@%')
                     + (SELECT count(*) FROM rejects WHERE source LIKE '{path}@%')""",
        )
        assert accounted == expected, path.name
    assert report.records == one(tmp_path, "SELECT count(*) FROM documents") + one(
        tmp_path, "SELECT count(*) FROM rejects"
    )
    # The Japanese ClueWeb pages decode from EUC-JP and are then dropped as non-English, not lost.
    assert one(tmp_path, "SELECT count(*) FROM segments WHERE lang = 'ja'") > 0


def test_bad_input_corpus_completes_and_loses_nothing(shared: Path, tmp_path: Path) -> None:
    corpus = tmp_path / "bad"
    corpus.mkdir()
    warc = (shared / "warc" / "dolma_sample-0001.warc.gz").read_bytes()
    (corpus / "truncated.warc.gz").write_bytes(warc[: len(warc) * 2 // 3])
    (corpus / "binary.html").write_bytes(bytes(range(256)) * 64)
    (corpus / "empty.html").write_bytes(b"")
    (corpus / "invalid-utf8.html").write_bytes(
        b"<html><head><meta charset='utf-8'></head><body><h1>Caf\xe9</h1><p>"
        + b"Bad \xff\xfe bytes here. " * 40
        + b"</p></body></html>"
    )
    (corpus / "giant.html").write_bytes(b"<html><body><h1>Giant</h1>" + b"<p>word word word.</p>" * 2_500_000)
    (corpus / "deep.html").write_bytes(b"<html><body>" + b"<div>" * 100_000 + b"deep" + b"</div>" * 100_000)
    report = run_etl([corpus], tmp_path / "wh", Settings(), workers=2, show_progress=False)
    wh = tmp_path / "wh"
    outcome = dict(
        query(
            wh,
            "SELECT source, status FROM documents "
            "UNION ALL SELECT source, stage || ':' || reason FROM rejects",
        )
    )
    assert outcome[str(corpus / "binary.html")] == "decode:binary_content"
    assert outcome[str(corpus / "empty.html")] == "decode:empty_page"
    assert outcome[str(corpus / "giant.html")] == "read:page_too_large"
    assert outcome[str(corpus / "invalid-utf8.html")] == "ok"
    assert outcome[str(corpus / "deep.html")] in {"ok", "no_text"} or outcome[
        str(corpus / "deep.html")
    ].startswith("extract:")
    assert "read:truncated_record" in outcome.values()
    assert len(outcome) == report.records  # every input record is in documents or rejects, once


def test_a_page_that_runs_past_its_timeout_becomes_a_reject() -> None:
    page = b"<html><body>" + b"<p>Some words in a paragraph.</p>" * 20_000 + b"</body></html>"
    settings = load_settings(None, ["extract.page_timeout_s=0.05"])
    result = process_batch("b", [RawRecord(source="slow.html", url=None, payload=page)], settings)
    assert result.documents.num_rows == 0
    assert result.rejects.column("reason").to_pylist() == ["timeout"]


def test_a_timeout_that_the_extractor_catches_still_ends_the_page() -> None:
    # trafilatura wraps lxml's parsing in its own try/except: an alarm that lands there is swallowed,
    # and the page would run on as if in time; the limit raises again when the block ends.
    caught = []
    with pytest.raises(PageTimeout), time_limit(0.02):
        try:
            time.sleep(1.0)
        except PageTimeout as exc:
            caught.append(exc)
    assert len(caught) == 1
    with time_limit(0.5):  # a block that ends in time raises nothing
        pass


GOOD_PAGE = (
    b"<html><body><h2>Fine</h2><p>" + b"A perfectly ordinary paragraph of text. " * 10 + b"</p></body></html>"
)


def crash_on_marker(batch_id, items, settings, warehouse_root=None):
    """Stands in for a page that kills its worker (a native crash in a parser): no real page does so
    reliably, so this task exits the worker process when it meets the marker, and otherwise runs the
    real batch function."""
    if any(isinstance(i, RawRecord) and b"CRASH-THE-WORKER" in i.payload for i in items):
        os._exit(1)
    return run_batch(batch_id, items, settings, warehouse_root)


def raise_on_marker(batch_id, items, settings, warehouse_root=None):
    """Stands in for a page that makes our own processing raise (no real page is known to): the task
    raises when it meets the marker, and otherwise runs the real batch function."""
    if any(isinstance(i, RawRecord) and b"RAISE-IN-PROCESSING" in i.payload for i in items):
        raise ValueError("unexpected input")
    return run_batch(batch_id, items, settings, warehouse_root)


def run_one_batch(warehouse: Warehouse, task, payloads: dict[str, bytes]) -> tuple[dict, int, list, list]:
    """Run one batch of pages through the local engine with `task`; return its counts, the number of
    pages rerun alone, and the staged documents and rejects."""
    items = [RawRecord(source=name, url=None, payload=payload) for name, payload in payloads.items()]
    engine = LocalEngine(2, Settings(), warehouse, task=task)
    try:
        counts, isolated = engine.result("batch", items, len(items), engine.submit("batch", items))
    finally:
        engine.close()
    documents = pq.read_table(warehouse.staged_path("documents", "batch")).to_pylist()
    rejects = pq.read_table(warehouse.staged_path("rejects", "batch")).to_pylist()
    return counts, isolated, documents, rejects


def test_a_page_that_kills_its_worker_is_isolated(tmp_path: Path) -> None:
    pages = {
        "a.html": GOOD_PAGE,
        "b.html": b"<p>CRASH-THE-WORKER</p>",
        "c.html": GOOD_PAGE.replace(b"Fine", b"Also fine"),
    }
    counts, isolated, documents, rejects = run_one_batch(Warehouse(tmp_path), crash_on_marker, pages)
    assert isolated == 3
    assert counts == {"documents": 2, "segments": 2, "rejects": 1}
    assert sorted(d["source"] for d in documents) == ["a.html", "c.html"]
    assert [(r["source"], r["reason"]) for r in rejects] == [("b.html", "worker_crashed")]


def test_a_page_that_makes_processing_raise_is_isolated(tmp_path: Path) -> None:
    pages = {"a.html": GOOD_PAGE, "b.html": b"<p>RAISE-IN-PROCESSING</p>"}
    counts, isolated, documents, rejects = run_one_batch(Warehouse(tmp_path), raise_on_marker, pages)
    assert (counts["documents"], counts["rejects"], isolated) == (1, 1, 2)
    assert [d["source"] for d in documents] == ["a.html"]
    assert [(r["source"], r["reason"]) for r in rejects] == [("b.html", "processing_error")]
    assert "ValueError: unexpected input" in rejects[0]["detail"]


def bug_on_every_page(batch_id, items, settings, warehouse_root=None):
    """Stands in for a bug in our own code: the real batch function runs, then a lookup by the wrong
    key raises KeyError on every page, at one line, with a message that names the page (as a bug's
    message often names its input)."""
    result = run_batch(batch_id, items, settings, warehouse_root)
    by_url = {item.url: item for item in items}
    by_url[items[0].source]  # the bug: looked up by source, not by URL
    return result


def test_a_bug_that_fails_every_page_stops_the_run(
    sample_warc: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The sample in batches of 4 pages, each page raising the bug: the run stops after two batches
    with EtlCodeError, logs the worker's traceback, and commits nothing; the run after the fix
    processes the whole corpus."""
    settings = load_settings(None, ["read.records_per_batch=4"])
    monkeypatch.setattr(pipeline, "LocalEngine", functools.partial(LocalEngine, task=bug_on_every_page))
    with pytest.raises(EtlCodeError) as raised:
        run_etl([sample_warc], tmp_path, settings, workers=2, show_progress=False)
    message = str(raised.value)
    log = tmp_path / "_logs" / "etl-errors.log"
    assert message.startswith(f"KeyError: '{sample_warc}@")
    assert "test_pipeline.py" in message and "in bug_on_every_page" in message  # where it raised
    assert "2 consecutive batches (8 pages" in message
    assert "bug in the run's code, not bad input" in message and str(log) in message
    traceback = log.read_text()
    assert traceback.count("Traceback (most recent call last)") == 2  # one per batch of the streak
    assert "by_url[items[0].source]" in traceback
    assert not list((tmp_path / "_staging" / "manifests").glob("*.json"))  # nothing committed
    assert not (tmp_path / "rejects").exists()  # never finalized

    monkeypatch.undo()
    report = run_etl([sample_warc], tmp_path, settings, workers=2, show_progress=False)
    assert report.batches_skipped == 0 and report.batches == 10
    assert (
        one(tmp_path, "SELECT count(*) FROM documents") + one(tmp_path, "SELECT count(*) FROM rejects") == 39
    )
    assert one(tmp_path, "SELECT count(*) FROM rejects WHERE reason = 'processing_error'") == 0


def write_jsonl(path: Path, payloads: list[bytes]) -> Path:
    with open(path, "w") as fh:
        for n, payload in enumerate(payloads):
            fh.write(json.dumps({"url": f"https://pages.example/{n}", "html": payload.decode()}) + "\n")
    return path


def test_the_cli_exits_non_zero_when_no_page_of_the_run_ran(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One batch, and the bug fails all its pages: the run ends with no page run, which is the same
    error; `humpback etl` exits non-zero."""
    from humpback.cli import app

    pages = [GOOD_PAGE, GOOD_PAGE.replace(b"Fine", b"Also fine"), GOOD_PAGE.replace(b"Fine", b"Good")]
    corpus = write_jsonl(tmp_path / "pages.jsonl", pages)
    monkeypatch.setattr(pipeline, "LocalEngine", functools.partial(LocalEngine, task=bug_on_every_page))
    result = CliRunner().invoke(
        app, ["etl", str(corpus), "--warehouse", str(tmp_path / "wh"), "--workers", "2", "--no-progress"]
    )
    assert result.exit_code == 1
    assert isinstance(result.exception, EtlCodeError)
    assert "every page that the run processed (3 pages" in str(result.exception)
    assert (tmp_path / "wh" / "_logs" / "etl-errors.log").is_file()


def test_pages_that_raise_among_pages_that_run_stay_rejects(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Batches of 2: [bad, bad], [good, bad], [good, good]. The first batch's pages all raise one error
    and its commit waits; the next batch has a page that runs, so the run goes on and all three
    batches are committed, the raising pages as processing_error rejects."""
    bad = b"<p>RAISE-IN-PROCESSING</p>"
    good = [GOOD_PAGE.replace(b"Fine", f"Fine {n}".encode()) for n in range(3)]
    corpus = write_jsonl(tmp_path / "pages.jsonl", [bad, bad, good[0], bad, good[1], good[2]])
    settings = load_settings(None, ["read.records_per_batch=2"])
    monkeypatch.setattr(pipeline, "LocalEngine", functools.partial(LocalEngine, task=raise_on_marker))
    report = run_etl([corpus], tmp_path / "wh", settings, workers=2, show_progress=False)
    assert (report.batches, report.pages_isolated) == (3, 4)
    assert query(tmp_path / "wh", "SELECT reason, count(*) FROM rejects GROUP BY 1") == [
        ("processing_error", 3)
    ]
    assert one(tmp_path / "wh", "SELECT count(*) FROM documents") == 3
    assert not (tmp_path / "wh" / "_logs").exists()
    again = run_etl([corpus], tmp_path / "wh", settings, workers=2, show_progress=False)
    assert again.batches_skipped == 3  # the held batch was committed too


def page_error(source: str, line: int, message: str = "boom", kind: str = "TypeError") -> PageError:
    traceback = (
        f'Traceback (most recent call last):\n  File "etl/worker.py", line {line}, in f\n{kind}: {message}'
    )
    return PageError(source, kind, message, traceback)


def test_code_error_watch_streaks(tmp_path: Path) -> None:
    """The streak rule alone, as both engines feed it (the Ray engine's run is tested in test_ray.py)."""
    page = RawRecord(source="p", url=None, payload=b"<p>x</p>")
    read_failure = Failure("read", "malformed_warc", "damaged", "f@0..9")
    log = tmp_path / "_logs" / "etl-errors.log"

    watch = CodeErrorWatch(log)
    watch.isolated("b1", [(page, page_error("a", 10, "'a'")), (page, page_error("b", 10, "'b'"))])
    assert watch.suspects == {"b1"}
    # Timeouts, dead workers and lack of memory are the page's doing: they break the streak.
    watch.isolated("b2", [(page, page_error("c", 10)), (page, "timeout")])
    assert watch.suspects == set()
    watch.isolated("b3", [(page, page_error("d", 10))])
    watch.isolated("b4", [(page, page_error("e", 11))])  # raised elsewhere: a new streak
    assert watch.suspects == {"b4"}
    watch.isolated("b5", [(page, page_error("f", 11)), (page, None)])  # a page that runs
    watch.batch_ran()
    assert watch.suspects == set() and not log.exists()
    watch.isolated("b6", [(page, page_error("g", 12))])
    watch.run_ended()  # pages of the run ran: the last batch's rejects stand
    assert watch.suspects == set() and not log.exists()

    watch = CodeErrorWatch(log)
    watch.isolated("b1", [(page, page_error("a", 10, "'a'")), (read_failure, None)])  # read failure: neutral
    with pytest.raises(
        EtlCodeError, match=r"^TypeError: 'a' \(raised at etl/worker.py:10 in f\) failed every"
    ):
        watch.isolated("b2", [(page, page_error("b", 10, "'b'"))])
    assert "Traceback" in log.read_text() and "-- batch b1: 1 pages (a)" in log.read_text()


@pytest.mark.slow
def test_kill_9_mid_run_resumes_without_duplicates(shared: Path, tmp_path: Path) -> None:
    pages = sorted((shared / "html" / "mozilla_readability" / "test-pages").glob("*/source.html.gz"))
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for page in pages:
        (corpus / f"{page.parent.name}.html.gz").symlink_to(page)
    humpback = [
        sys.executable,
        "-m",
        "humpback.cli",
        "etl",
        str(corpus),
        "--workers",
        "2",
        "--no-progress",
        "--set",
        "read.records_per_batch=4",
    ]
    killed = tmp_path / "killed"
    proc = subprocess.Popen(
        [*humpback, "--warehouse", str(killed)],
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    manifests = killed / "_staging" / "manifests"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(list(manifests.glob("*.json"))) < 5:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    committed = len(list(manifests.glob("*.json")))
    assert 5 <= committed < len(pages) // 4, "the kill should land mid-run"

    resumed = subprocess.run(
        [*humpback, "--warehouse", str(killed)], capture_output=True, text=True, check=True
    )
    assert (
        f"({committed} already done" in resumed.stdout or f"({committed + 1} already done" in resumed.stdout
    )

    clean = tmp_path / "clean"
    subprocess.run([*humpback, "--warehouse", str(clean)], capture_output=True, check=True)
    for table, key in (("documents", "doc_id"), ("segments", "segment_id"), ("rejects", "reject_id")):
        assert query(killed, f"SELECT {key} FROM {table} ORDER BY 1") == query(
            clean, f"SELECT {key} FROM {table} ORDER BY 1"
        )
    assert one(killed, "SELECT count(*) - count(DISTINCT segment_id) FROM segments") == 0
