"""Benchmark: this ETL against datatrove and against trafilatura alone, on the same real pages.

What it measures, in one run:

* throughput (median wall seconds over `--repeats` runs, and pages/s), side by side in three input shapes
  of the same records (`--shapes`, default all three), every approach with the same `--workers`:
  - folder: a folder of single-page `.html.gz` files, one per record;
  - warc: the records split round-robin into one gzip WARC per worker ("shards");
  - jsonl: one JSONL file, `{"url": ..., "html": ...}` per line;
  of
  - datatrove: its reader -> Trafilatura -> Gopher repetition, Gopher quality and C4 quality filters
    -> its four-stage MinHash dedup (14 buckets x 8 hashes, 5-grams) -> ParquetWriter, all stages timed
    as one subprocess, with `LocalPipelineExecutor(tasks=workers, workers=workers)` (the buckets stage
    needs tasks=14, the cluster stage 1). Readers: WarcReader on the shards; JsonlReader(text_key="html")
    on the JSONL; for the folder, which datatrove has no reader for, the smallest one that fits its API
    (a BaseDiskReader whose read_file yields one Document per file, in the pipeline script below).
    datatrove parallelises over files, so on the one JSONL file only one task works: it also reads the
    JSONL split into one file per worker, and that row is the fair one (as the WARC shards are);
  - this ETL, `humpback etl INPUT ... --no-progress` as a user runs it (a fresh subprocess and a fresh
    warehouse each run, nothing excluded), in trafilatura fast mode (the default) in every shape, and in
    default mode (`--set extract.fast=false`) in the main shape (warc, else the first one asked for);
  - the floor, "extraction alone": a multiprocessing.Pool over the pre-decoded HTML strings calling
    `trafilatura.extract(html, fast=...)`, timing the pool map only;
  - for information (warc shape): both tools on the records as one single WARC (datatrove: one task does
    all the work), and the floor with the trafilatura that datatrove pins (< 1.12) in its venv;
* the ratios against their targets, each marked PASS or MISS (a miss never fails the exit code): per
  shape, datatrove's time / our fast time >= 2.5 (= our throughput / its throughput); ours / extraction
  alone <= 1.15 in both modes, in the main shape (the other shapes' fast ratios are shown for
  information);
* extraction quality on the 130 Mozilla readability pages: the share of the expected text's word
  3-grams (expected.html.gz, tags stripped) found in our segments (headers + text, joined on the URL;
  main shape) and in trafilatura.extract's output, median and mean;
* peak memory of our ETL (fast, main shape) at N and at 10 x N pages (a second corpus in that shape;
  `--no-memory` skips it): ru_maxrss of the run's process tree (its largest process) from a fresh
  wrapper process, and the sampled peak of the summed PSS of the whole tree.

The corpus: the 130 readability `source.html.gz` pages and the HTML responses of
`warc/dolma_sample-000{0,1}.warc.gz` from `../shared/data`, replicated to `--pages` records, each copy
made byte-unique by a `<meta name="bench-copy">` tag (the text is unchanged, so near-duplicate detection
sees the same pages in both tools), URL `https://bench.example/<page>/<copy>`. Every shape holds the same
records in the same order with the same UTF-8 page bytes: `pages-N/NNNNNN.html.gz` (record i in file
NNNNNN = i; our ETL names such a page by its file:// URL, mapped back to the record's URL for the recall
join), `shards-NxW/part-KK.warc.gz` (record i in shard i mod W: the same split datatrove's file sharding
makes of the folder), `jsonl-N/corpus.jsonl`, `jsonl-NxW/part-KK.jsonl` (for datatrove, round-robin too)
and `corpus-N.warc.gz` (the single WARC).

datatrove runs in its own venv, `.venv-bench` (created on first use), as a subprocess, offline: no
language filter (it downloads a fastText model), English words and sentences split by `spacy.blank("en")`
(datatrove's tokenizer for English; no model download, no nltk data), `HF_HUB_OFFLINE=1`.

The machine may be shared: every run reports the CPU that other processes used meanwhile ("other
load", in cores); each run waits for a quiet machine first and is retried (`--retries`) when other
processes took more than `--max-other-load` cores. A run during which the ETL's code changed (someone
editing it) and that failed is retried too.

Run from the repository root (about 35 minutes with the defaults on 2 cores):

    .venv/bin/python -m benchmarks.etl_vs_datatrove                  # --pages 1300 --workers 2 --repeats 3
    .venv/bin/python -m benchmarks.etl_vs_datatrove --pages 200 --repeats 1 --no-memory   # a quick check
    .venv/bin/python -m benchmarks.etl_vs_datatrove --shapes jsonl   # one shape only
"""

from __future__ import annotations

import argparse
import gzip
import html as html_lib
import json
import os
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from benchmarks.harness import ROOT as REPO
from benchmarks.harness import SHARED_DATA as DATA
from benchmarks.harness import machine_busy_seconds, own_cpu_seconds, wait_for_quiet

ETL_VENV = REPO / ".venv"
BENCH_VENV = REPO / ".venv-bench"
# datatrove[processing] pins trafilatura<1.12; WarcReader imports cchardet and magic (the "io" extra,
# whose other members we do not need); ParquetWriter needs pyarrow; the Gopher and C4 filters split
# English words and sentences with spacy.blank("en"); JsonlReader parses lines with orjson.
BENCH_PACKAGES = [
    "datatrove[processing]",
    "trafilatura",
    "lxml_html_clean",
    "warcio",
    "faust-cchardet",
    "python-magic",
    "pyarrow",
    "spacy",
    "orjson",
]
BENCH_IMPORTS = "import datatrove, trafilatura, warcio, cchardet, magic, pyarrow, spacy, xxhash, orjson"
SHAPES = ("folder", "warc", "jsonl")
TARGET_VS_DATATROVE = 2.5
TARGET_VS_FLOOR = 1.15
TARGET_MEMORY_RATIO = 1.2
DATATROVE_TIMEOUT_S = 30.0  # our extract.page_timeout_s; datatrove's own default is 1 s


# --------------------------------------------------------------------------------------------------
# Corpus


@dataclass(frozen=True)
class Page:
    name: str
    html: str
    expected: str | None = None  # expected main text (readability pages only)


def _decode(payload: bytes, charset: str | None) -> str:
    for codec in (charset, "utf-8"):
        if not codec:
            continue
        try:
            return payload.decode(codec)
        except (UnicodeDecodeError, LookupError):
            continue
    return payload.decode("utf-8", errors="replace")


def _text_content(markup: str) -> str:
    import lxml.html

    if not markup.strip():
        return ""
    return lxml.html.fromstring(markup).text_content()


def load_pages(data: Path) -> list[Page]:
    """The readability pages (sorted by name), then the dolma WARC HTML responses in file order."""
    from warcio.archiveiterator import ArchiveIterator

    pages: list[Page] = []
    for folder in sorted((data / "html" / "mozilla_readability" / "test-pages").iterdir()):
        source = folder / "source.html.gz"
        if not source.is_file():
            continue
        expected_file = folder / "expected.html.gz"
        expected = None
        if expected_file.is_file():
            expected = _text_content(gzip.decompress(expected_file.read_bytes()).decode("utf-8", "replace"))
        pages.append(Page(f"rd-{folder.name}", _decode(gzip.decompress(source.read_bytes()), None), expected))
    for index in (0, 1):
        path = data / "warc" / f"dolma_sample-000{index}.warc.gz"
        number = 0
        with open(path, "rb") as fh:
            for record in ArchiveIterator(fh):
                if record.rec_type != "response" or record.http_headers is None:
                    continue
                content_type = (record.http_headers.get_header("Content-Type") or "").lower()
                if "html" not in content_type:
                    continue
                match = re.search(r"charset=([\w.-]+)", content_type)
                body = record.content_stream().read()
                pages.append(Page(f"dolma{index}-{number:03d}", _decode(body, match and match.group(1))))
                number += 1
    return pages


_HEAD = re.compile(r"<head(\s[^>]*)?>", re.IGNORECASE)


def unique_copy(markup: str, copy: int) -> str:
    """The page with a distinct <meta> tag (after <head>, else first), so every copy's bytes differ."""
    tag = f'<meta name="bench-copy" content="{copy}">'
    match = _HEAD.search(markup)
    if match:
        return markup[: match.end()] + tag + markup[match.end() :]
    return tag + markup


def page_url(name: str, copy: int) -> str:
    return f"https://bench.example/{quote(name)}/{copy}"


def corpus_records(pages: list[Page], n: int) -> Iterable[tuple[str, str]]:
    """(url, html) of n records: every page once (copy 0), then again as copy 1, and so on."""
    for i in range(n):
        page = pages[i % len(pages)]
        copy = i // len(pages)
        yield page_url(page.name, copy), unique_copy(page.html, copy)


def _warc_response(writer, url: str, markup: str) -> None:
    from io import BytesIO

    from warcio.statusandheaders import StatusAndHeaders

    body = markup.encode("utf-8")
    http_headers = StatusAndHeaders(
        "200 OK",
        [("Content-Type", "text/html; charset=utf-8"), ("Content-Length", str(len(body)))],
        protocol="HTTP/1.1",
    )
    record = writer.create_warc_record(
        url,
        "response",
        payload=BytesIO(body),
        http_headers=http_headers,
        warc_headers_dict={"WARC-Identified-Payload-Type": "text/html"},
    )
    writer.write_record(record)


@dataclass
class Corpus:
    n: int
    workers: int
    folder: Path
    warc: Path | None = None  # the records as one single WARC ([info] rows)
    shards: Path | None = None  # warc shape: one WARC per worker; both tools read this folder
    pages: Path | None = None  # folder shape: one .html.gz per record; both tools read this folder
    jsonl: Path | None = None  # jsonl shape: the one JSONL file (datatrove reads its folder)
    jsonl_split: Path | None = None  # the same lines as one JSONL per worker (datatrove's fair input)
    htmls: Path | None = None  # JSON list of the decoded HTML strings: the floor reads it
    file_urls: dict[str, str] = field(default_factory=dict)  # a page file's file:// URL -> record URL

    def ours_input(self, shape: str) -> Path:
        path = {"folder": self.pages, "warc": self.shards, "jsonl": self.jsonl}[shape]
        assert path is not None, f"no {shape} input written"
        return path

    def sizes(self) -> str:
        """The size on disk of each input written."""

        def mb(path: Path) -> float:
            files = [path] if path.is_file() else [p for p in path.iterdir() if p.is_file()]
            return sum(p.stat().st_size for p in files) / 1e6

        parts = []
        if self.pages is not None:
            parts.append(f"folder {mb(self.pages):.1f} MB of .html.gz")
        if self.shards is not None:
            parts.append(f"{self.workers} gzip WARC shards {mb(self.shards):.1f} MB")
        if self.warc is not None:
            parts.append(f"one gzip WARC {mb(self.warc):.1f} MB")
        if self.jsonl is not None:
            split = f" (and split into {self.workers})" if self.jsonl_split is not None else ""
            parts.append(f"JSONL {mb(self.jsonl):.1f} MB{split}")
        return ", ".join(parts)


def write_corpus(
    pages: list[Page],
    n: int,
    folder: Path,
    shapes: Sequence[str],
    workers: int,
    single_warc: bool = False,
    jsonl_split: bool = False,
    with_htmls: bool = False,
) -> Corpus:
    """Write the n records in each of `shapes`, all in one pass; with `single_warc` also as one WARC,
    with `jsonl_split` (jsonl shape) also as one JSONL per worker."""
    from contextlib import ExitStack

    from warcio.warcwriter import WARCWriter

    folder.mkdir(parents=True, exist_ok=True)
    corpus = Corpus(n, workers, folder)
    htmls: list[str] = []

    def new_dir(name: str) -> Path:
        path = folder / name
        path.mkdir(exist_ok=True)
        return path

    with ExitStack() as files:
        warc_writer = None
        if single_warc:
            corpus.warc = folder / f"corpus-{n}.warc.gz"
            warc_writer = WARCWriter(files.enter_context(open(corpus.warc, "wb")), gzip=True)
        shard_writers = []
        if "warc" in shapes:
            corpus.shards = new_dir(f"shards-{n}x{workers}")
            for k in range(workers):
                shard = files.enter_context(open(corpus.shards / f"part-{k:02d}.warc.gz", "wb"))
                shard_writers.append(WARCWriter(shard, gzip=True))
        jsonl_out, jsonl_parts = None, []
        if "jsonl" in shapes:
            corpus.jsonl = new_dir(f"jsonl-{n}") / "corpus.jsonl"
            jsonl_out = files.enter_context(open(corpus.jsonl, "wb"))
            if jsonl_split:
                corpus.jsonl_split = new_dir(f"jsonl-{n}x{workers}")
                for k in range(workers):
                    part = corpus.jsonl_split / f"part-{k:02d}.jsonl"
                    jsonl_parts.append(files.enter_context(open(part, "wb")))
        if "folder" in shapes:
            corpus.pages = new_dir(f"pages-{n}")
        for i, (url, markup) in enumerate(corpus_records(pages, n)):
            if warc_writer is not None:
                _warc_response(warc_writer, url, markup)
            if shard_writers:
                _warc_response(shard_writers[i % workers], url, markup)
            if jsonl_out is not None:
                line = (json.dumps({"url": url, "html": markup}, ensure_ascii=False) + "\n").encode("utf-8")
                jsonl_out.write(line)
                if jsonl_parts:
                    jsonl_parts[i % workers].write(line)
            if corpus.pages is not None:
                # Our ETL names the page by its file:// URL; datatrove's folder reader shards the sorted
                # files round-robin, so each task gets the records that shard of the WARCs holds.
                path = corpus.pages / f"{i:06d}.html.gz"
                path.write_bytes(gzip.compress(markup.encode("utf-8"), compresslevel=6))
                corpus.file_urls[path.resolve().as_uri()] = url
            if with_htmls:
                htmls.append(markup)
    if with_htmls:
        corpus.htmls = folder / f"htmls-{n}.json"
        corpus.htmls.write_text(json.dumps(htmls))
    return corpus


# --------------------------------------------------------------------------------------------------
# Measuring a subprocess: wall time, peak RSS of its largest process, sampled peak PSS of its tree


@dataclass
class Measurement:
    seconds: float
    maxrss_mb: float  # getrusage(RUSAGE_CHILDREN).ru_maxrss in a fresh wrapper: the largest process
    tree_pss_mb: float  # the summed PSS of the whole process tree, sampled every 0.2 s
    returncode: int
    log: Path
    other_load: float = 0.0  # CPU cores used by processes outside the measured tree, on average
    extra: dict = field(default_factory=dict)

    @property
    def error(self) -> str:
        """The last line of the log of a failed run."""
        lines = [line for line in self.log.read_text(errors="replace").splitlines() if line.strip()]
        return lines[-1].strip() if lines else ""


def _run_wrapper(argv: list[str]) -> int:
    """`_run RESULT.json LOG -- CMD...`: run CMD; write its wall time, the max RSS and CPU of its tree."""
    import contextlib
    import ctypes
    import resource

    result, log, cmd = argv[0], argv[1], argv[3:]
    # PR_SET_CHILD_SUBREAPER: orphaned descendants (forkserver pool workers) are reparented to us.
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)
    with open(log, "wb") as out:
        busy = machine_busy_seconds()
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        rc = proc.wait()
        seconds = time.perf_counter() - started
        busy = machine_busy_seconds() - busy
    deadline = time.monotonic() + 60.0
    while time.monotonic() < deadline:  # reap the orphans, so that their usage is counted too
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            break
        if pid == 0:
            time.sleep(0.05)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    data = {
        "seconds": seconds,
        "maxrss_kb": children.ru_maxrss,
        "returncode": rc,
        "machine_busy_s": busy,
        "tree_cpu_s": children.ru_utime + children.ru_stime + own_cpu_seconds(children=False),
    }
    Path(result).write_text(json.dumps(data))
    return 0


def _process_tree(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                stat = fh.read()
        except OSError:
            continue
        ppid = int(stat[stat.rfind(")") + 2 :].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(children.get(pid, []))
    return tree


def _pss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as fh:
            for line in fh:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    try:
        with open(f"/proc/{pid}/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024
    except OSError:
        return 0


def measure(cmd: Sequence[str], log: Path, env: dict[str, str] | None = None) -> Measurement:
    """Run `cmd` under the wrapper in a fresh process; sample the PSS of its process tree meanwhile.

    `other_load` is the machine's busy CPU time during the run minus the measured tree's and this
    process's own, per wall second: CPU cores taken by someone else's processes.
    """
    result = log.with_suffix(".result.json")
    wrapper = [sys.executable, str(Path(__file__).resolve()), "_run", str(result), str(log), "--", *cmd]
    own_cpu = own_cpu_seconds(children=False)
    proc = subprocess.Popen(wrapper, env=env, stdin=subprocess.DEVNULL)
    peak_kb = 0
    can_sample = os.path.isdir("/proc")
    while proc.poll() is None:
        if can_sample:
            peak_kb = max(peak_kb, sum(_pss_kb(p) for p in _process_tree(proc.pid)))
        time.sleep(0.2)
    own_cpu = own_cpu_seconds(children=False) - own_cpu
    if proc.returncode != 0 or not result.exists():
        raise RuntimeError(f"the measuring wrapper failed for {shlex.join(cmd)}")
    data = json.loads(result.read_text())
    other = data["machine_busy_s"] - data["tree_cpu_s"] - own_cpu
    return Measurement(
        data["seconds"],
        data["maxrss_kb"] / 1024,
        peak_kb / 1024,
        data["returncode"],
        log,
        other_load=max(0.0, other / max(data["seconds"], 1e-9)),
    )


def code_fingerprint() -> str:
    """Hash of the ETL's code (etl/, sql/, warehouse/, pyproject.toml): others may edit it meanwhile."""
    import hashlib

    digest = hashlib.blake2b(digest_size=6)
    files = [REPO / "pyproject.toml"]
    for folder in ("etl", "sql", "warehouse"):
        files += [p for p in (REPO / folder).rglob("*") if p.suffix in (".py", ".sql") and p.is_file()]
    for path in sorted(files):
        digest.update(str(path.relative_to(REPO)).encode())
        try:
            digest.update(path.read_bytes())
        except OSError:
            digest.update(b"<gone>")
    return digest.hexdigest()


# --------------------------------------------------------------------------------------------------
# The floor: trafilatura.extract alone on a process pool


_FLOOR_KWARGS: dict[str, bool] = {}


def _floor_extract(markup: str) -> str:
    import trafilatura

    try:
        return trafilatura.extract(markup, **_FLOOR_KWARGS) or ""
    except Exception:
        return ""


def _floor_main(argv: list[str]) -> int:
    """`_floor HTMLS.json fast|default WORKERS RESULT.json KEEP`: time the pool map only."""
    import inspect
    import multiprocessing

    import trafilatura

    htmls_path, mode, workers, result, keep = argv[0], argv[1], int(argv[2]), argv[3], int(argv[4])
    htmls: list[str] = json.loads(Path(htmls_path).read_text())
    fast = mode == "fast"
    # trafilatura >= 1.10 calls it `fast`; older ones (datatrove pins < 1.12) still read `no_fallback`.
    params = inspect.signature(trafilatura.extract).parameters
    _FLOOR_KWARGS["fast" if "fast" in params else "no_fallback"] = fast
    chunksize = max(1, min(16, len(htmls) // (workers * 8)))
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        pool.map(int, range(workers))  # the workers are up before the clock starts
        started = time.perf_counter()
        texts = pool.map(_floor_extract, htmls, chunksize)
        seconds = time.perf_counter() - started
    Path(result).write_text(
        json.dumps(
            {
                "seconds": seconds,
                "trafilatura": trafilatura.__version__,
                "chars": sum(map(len, texts)),
                "texts": texts[:keep],
            }
        )
    )
    return 0


# --------------------------------------------------------------------------------------------------
# datatrove


DATATROVE_PIPELINE = '''"""Written by benchmarks/etl_vs_datatrove.py; argv[1]: its JSON parameters."""
import inspect
import json
import sys

import trafilatura
from datatrove.executor import LocalPipelineExecutor
from datatrove.pipeline.dedup import (
    MinhashDedupBuckets,
    MinhashDedupCluster,
    MinhashDedupFilter,
    MinhashDedupSignature,
)
from datatrove.pipeline.dedup.minhash import MinhashConfig
from datatrove.pipeline.extractors import Trafilatura
from datatrove.pipeline.filters import C4QualityFilter, GopherQualityFilter, GopherRepetitionFilter
from datatrove.pipeline.readers import JsonlReader, ParquetReader, WarcReader
from datatrove.pipeline.readers.base import BaseDiskReader
from datatrove.pipeline.writers import ParquetWriter


class HtmlFilesReader(BaseDiskReader):
    """A folder of saved pages, one Document per file (datatrove has no reader for them).

    BaseDiskReader lists the folder and gives each task every world_size-th file, as for any reader; the
    file is decoded as UTF-8 (what WarcReader tries first; the benchmark's pages are UTF-8).
    """

    name = "HTML files"

    def read_file(self, filepath: str):
        with self.data_folder.open(filepath, "rb", compression="infer") as f:
            payload = f.read()
        with self.track_time():
            data = {"text": payload.decode("utf-8", errors="replace"), "id": filepath}
            document = self.get_document_from_dict(data, filepath, 0)
        if document:
            yield document


def reader(p: dict):
    if p["reader"] == "warc":
        return WarcReader(p["input_dir"], glob_pattern="*.warc.gz")
    if p["reader"] == "jsonl":
        return JsonlReader(p["input_dir"], glob_pattern="*.jsonl", text_key="html")
    return HtmlFilesReader(p["input_dir"], glob_pattern="*.html.gz")


def main() -> None:
    p = json.loads(open(sys.argv[1]).read())
    work, workers = p["work_dir"], p["workers"]
    config = MinhashConfig(n_grams=5, num_buckets=14, hashes_per_bucket=8)
    fast_kw = "fast" if "fast" in inspect.signature(trafilatura.extract).parameters else "no_fallback"
    extractor = Trafilatura(
        favour_precision=False, timeout=p["timeout"], deduplicate=False, **{fast_kw: p["fast"]}
    )
    # Stage 1 extracts, filters, keeps the survivors and computes their signatures in one pass.
    stage1 = LocalPipelineExecutor(
        pipeline=[
            reader(p),
            extractor,
            GopherRepetitionFilter(),
            GopherQualityFilter(),
            C4QualityFilter(),
            ParquetWriter(f"{work}/filtered"),
            MinhashDedupSignature(output_folder=f"{work}/signatures", config=config),
        ],
        tasks=workers,
        workers=workers,
        logging_dir=f"{work}/logs/1",
    )
    stage2 = LocalPipelineExecutor(
        pipeline=[
            MinhashDedupBuckets(
                input_folder=f"{work}/signatures", output_folder=f"{work}/buckets", config=config
            )
        ],
        tasks=config.num_buckets,
        workers=workers,
        logging_dir=f"{work}/logs/2",
        depends=stage1,
    )
    stage3 = LocalPipelineExecutor(
        pipeline=[
            MinhashDedupCluster(
                input_folder=f"{work}/buckets", output_folder=f"{work}/remove_ids", config=config
            )
        ],
        tasks=1,
        logging_dir=f"{work}/logs/3",
        depends=stage2,
    )
    stage4 = LocalPipelineExecutor(
        pipeline=[
            ParquetReader(f"{work}/filtered"),
            MinhashDedupFilter(input_folder=f"{work}/remove_ids"),
            ParquetWriter(f"{work}/output"),
        ],
        tasks=workers,
        workers=workers,
        logging_dir=f"{work}/logs/4",
        depends=stage3,
    )
    stage4.run()


if __name__ == "__main__":
    main()
'''


def bench_python() -> Path:
    return BENCH_VENV / "bin" / "python"


def ensure_bench_venv() -> str:
    """Create .venv-bench with datatrove if it is missing or incomplete; return its package versions."""
    python = bench_python()
    check = [str(python), "-c", BENCH_IMPORTS]
    if not python.exists() or subprocess.run(check, capture_output=True).returncode != 0:
        print(f"[setup] installing datatrove into {BENCH_VENV} ...", flush=True)
        if not python.exists():
            subprocess.run(
                [shutil.which("python3") or sys.executable, "-m", "venv", str(BENCH_VENV)], check=True
            )
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", *BENCH_PACKAGES], check=True)
        probe = subprocess.run(check, capture_output=True, text=True)
        if probe.returncode != 0:
            hint = " (python-magic needs libmagic1 from apt)" if "magic" in probe.stderr else ""
            raise SystemExit(f"{BENCH_VENV} is not usable{hint}:\n{probe.stderr}")
    versions = subprocess.run(
        [
            str(python),
            "-c",
            "import datatrove, trafilatura, spacy; from importlib.metadata import version; "
            "print(f\"datatrove {version('datatrove')}, trafilatura {trafilatura.__version__}, "
            'spacy {spacy.__version__}")',
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return versions.stdout.strip()


def _parquet_rows(folder: Path) -> int:
    import pyarrow.parquet as pq

    return sum(pq.ParquetFile(f).metadata.num_rows for f in sorted(folder.glob("*.parquet")))


def _read_per_task(logs: Path) -> list[int]:
    """Documents the reader (the first step) yielded in each task of a datatrove stage."""
    counts = []
    for path in sorted((logs / "stats").glob("*.json")):
        value = json.loads(path.read_text())[0]["stats"].get("documents", 0)
        counts.append(int(value["total"] if isinstance(value, dict) else value))
    return counts


def run_datatrove(input_dir: Path, reader: str, workers: int, run_dir: Path, fast: bool) -> Measurement:
    """datatrove's pipeline on the files of `input_dir`, read with its `reader` (warc, jsonl or html)."""
    run_dir.mkdir(parents=True)
    script = run_dir.parent / "datatrove_pipeline.py"
    if not script.exists():
        script.write_text(DATATROVE_PIPELINE)
    params = run_dir / "params.json"
    params.write_text(
        json.dumps(
            {
                "input_dir": str(input_dir),
                "reader": reader,
                "work_dir": str(run_dir / "work"),
                "workers": workers,
                "fast": fast,
                "timeout": DATATROVE_TIMEOUT_S,
            }
        )
    )
    env = os.environ | {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    m = measure([str(bench_python()), str(script), str(params)], run_dir / "datatrove.log", env)
    if m.returncode == 0:
        m.extra["read_per_task"] = _read_per_task(run_dir / "work" / "logs" / "1")
        m.extra["filtered_docs"] = _parquet_rows(run_dir / "work" / "filtered")
        m.extra["output_docs"] = _parquet_rows(run_dir / "work" / "output")
    return m


# --------------------------------------------------------------------------------------------------
# Our ETL


def run_ours(source: Path, workers: int, run_dir: Path, fast: bool) -> Measurement:
    """`humpback etl SOURCE` (a file or a folder) into a fresh warehouse."""
    run_dir.mkdir(parents=True)
    warehouse = run_dir / "warehouse"
    cmd = [
        str(ETL_VENV / "bin" / "humpback"),
        "etl",
        str(source),
        "--warehouse",
        str(warehouse),
        "--workers",
        str(workers),
        "--no-progress",
    ]
    if not fast:
        cmd += ["--set", "extract.fast=false"]
    m = measure(cmd, run_dir / "humpback.log")
    if m.returncode == 0:
        import duckdb

        con = duckdb.connect()
        (m.extra["documents"],) = con.execute(
            f"SELECT count(*) FROM '{warehouse}/documents/*.parquet'"
        ).fetchall()[0]
        m.extra["segments"], m.extra["kept"] = con.execute(
            f"SELECT count(*), count(*) FILTER (WHERE keep) FROM '{warehouse}/segments/*.parquet'"
        ).fetchall()[0]
        (m.extra["rejects"],) = con.execute(
            f"SELECT count(*) FROM '{warehouse}/rejects/*.parquet'"
        ).fetchall()[0]
        con.close()
    m.extra["warehouse"] = warehouse
    return m


def our_texts(warehouse: Path, urls: dict[str, str]) -> dict[str, str]:
    """url -> the page's segments (header, then text) concatenated in order; `urls` maps the URLs our
    ETL gave (a page file's file:// URL) to the record's URL."""
    import duckdb

    con = duckdb.connect()
    rows = con.execute(
        f"SELECT url, string_agg(header || '\n' || text, '\n' ORDER BY position) "
        f"FROM '{warehouse}/segments/*.parquet' GROUP BY url"
    ).fetchall()
    con.close()
    return {urls.get(url, url): text for url, text in rows}


# --------------------------------------------------------------------------------------------------
# Extraction quality


_WORD = re.compile(r"\w+")


def trigrams(text: str) -> set[tuple[str, str, str]]:
    words = _WORD.findall(html_lib.unescape(text).lower())
    return set(zip(words, words[1:], words[2:], strict=False))


def recalls(pages: list[Page], texts: dict[str, str]) -> list[float]:
    """Per readability page (copy 0): share of the expected text's word 3-grams found in `texts`."""
    values = []
    for page in pages:
        if page.expected is None:
            continue
        expected = trigrams(page.expected)
        if not expected:
            continue
        got = trigrams(texts.get(page_url(page.name, 0), ""))
        values.append(len(expected & got) / len(expected))
    return values


# --------------------------------------------------------------------------------------------------
# Report


@dataclass
class Row:
    key: str
    label: str
    runs: list[Measurement] = field(default_factory=list)

    @property
    def ok_runs(self) -> list[Measurement]:
        return [m for m in self.runs if m.returncode == 0]

    @property
    def seconds(self) -> float | None:
        ok = self.ok_runs
        return statistics.median(m.seconds for m in ok) if ok else None


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def _fmt(value: float | None, spec: str = ".2f") -> str:
    return "n/a" if value is None else format(value, spec)


def _peak(runs: list[Measurement]) -> tuple[float, float]:
    return max(m.maxrss_mb for m in runs), max(m.tree_pss_mb for m in runs)


def _ensure_etl_python() -> None:
    """Re-run under the project venv's python when this one lacks the project's dependencies."""
    try:
        import duckdb  # noqa: F401
        import lxml.html  # noqa: F401
        import trafilatura  # noqa: F401
        import warcio  # noqa: F401
    except ImportError as exc:
        python = ETL_VENV / "bin" / "python"
        if python.exists() and Path(sys.executable).absolute() != python.absolute():
            os.execv(str(python), [str(python), str(Path(__file__).resolve()), *sys.argv[1:]])
        raise SystemExit(f"{exc}: run with {python} (make install)") from exc


def _shapes(value: str) -> list[str]:
    shapes = [s.strip() for s in value.split(",") if s.strip()]
    unknown = [s for s in shapes if s not in SHAPES]
    if unknown or not shapes:
        raise argparse.ArgumentTypeError(f"{value!r}: pick from {','.join(SHAPES)}")
    return shapes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=1300, help="records in the corpus (default 1300)")
    parser.add_argument("--workers", type=int, default=2, help="worker processes for every approach")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each measurement; medians reported")
    parser.add_argument("--no-datatrove", dest="datatrove", action="store_false", help="skip datatrove")
    parser.add_argument("--memory", dest="memory", action="store_true", default=True, help=argparse.SUPPRESS)
    parser.add_argument("--no-memory", dest="memory", action="store_false", help="skip the 10 x N memory run")
    parser.add_argument(
        "--out",
        type=Path,
        help="folder for the corpus and run files, kept (default: a temp dir, removed unless a run failed)",
    )
    parser.add_argument(
        "--max-other-load",
        type=float,
        default=0.3,
        help="a run during which other processes used more CPU cores than this is retried (default 0.3)",
    )
    parser.add_argument("--retries", type=int, default=2, help="retries of a disturbed run (default 2)")
    parser.add_argument(
        "--shapes",
        type=_shapes,
        default=list(SHAPES),
        help="input shapes to compare, comma-separated (default folder,warc,jsonl)",
    )
    args = parser.parse_args(argv)
    _ensure_etl_python()
    python = (
        os.path.relpath(sys.executable) if Path(sys.executable).is_relative_to(Path.cwd()) else sys.executable
    )
    command = shlex.join([python, *sys.argv])
    wall_started = time.perf_counter()

    humpback = ETL_VENV / "bin" / "humpback"
    if not humpback.exists():
        raise SystemExit(f"{humpback} not found: run `make install` first")
    dt_versions = ensure_bench_venv() if args.datatrove else "skipped"
    import trafilatura

    out = args.out or Path(tempfile.mkdtemp(prefix="etl-bench-"))
    out.mkdir(parents=True, exist_ok=True)
    runs_dir = out / f"runs-{time.strftime('%Y%m%d-%H%M%S')}"
    print(
        f"[setup] files under {out}; ours: trafilatura {trafilatura.__version__}; bench venv: {dt_versions}"
    )

    fingerprint = code_fingerprint()
    head = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    )
    print(f"[setup] code under test: git {head.stdout.strip() or '?'}, etl+sql+warehouse hash {fingerprint}")
    shapes = [s for s in SHAPES if s in args.shapes]  # in the canonical order
    primary = "warc" if "warc" in shapes else shapes[0]  # ours default, the floor ratios, recall, memory
    pages = load_pages(DATA)
    n_readability = sum(p.expected is not None for p in pages)
    started = time.perf_counter()
    corpus = write_corpus(
        pages,
        args.pages,
        out / "corpus",
        shapes,
        args.workers,
        single_warc="warc" in shapes,
        jsonl_split=args.datatrove,
        with_htmls=True,
    )
    print(
        f"[setup] corpus: {len(pages)} distinct pages ({n_readability} readability, "
        f"{len(pages) - n_readability} dolma) -> {args.pages} records: {corpus.sizes()}, "
        f"{time.perf_counter() - started:.1f} s",
        flush=True,
    )
    big: Corpus | None = None
    if args.memory:
        started = time.perf_counter()
        big = write_corpus(pages, 10 * args.pages, out / "corpus", [primary], args.workers)
        print(
            f"[setup] 10x corpus ({primary} shape): {big.n} records: {big.sizes()}, "
            f"{time.perf_counter() - started:.1f} s",
            flush=True,
        )

    w, n = args.workers, args.pages
    reads = {  # what each shape's rows read, as the tables say it
        "folder": f"a folder of {n} .html.gz",
        "warc": f"{w} WARC shards",
        "jsonl": "the one JSONL file",
    }
    rows: dict[str, Row] = {}
    if "folder" in shapes:
        rows["dt_folder"] = Row("dt_folder", f"datatrove fast, {reads['folder']} (HtmlFilesReader)")
        rows["ours_folder"] = Row("ours_folder", f"ours fast, {reads['folder']}")
    if "warc" in shapes:
        rows["dt_warc"] = Row("dt_warc", f"datatrove fast, {reads['warc']}")
        rows["ours_warc"] = Row("ours_warc", f"ours fast, {reads['warc']}")
    if "jsonl" in shapes:
        rows["dt_jsonl_split"] = Row("dt_jsonl_split", f"datatrove fast, the JSONL split into {w} files")
        rows["dt_jsonl"] = Row("dt_jsonl", "[info] datatrove fast, the one JSONL file (1 task busy)")
        rows["ours_jsonl"] = Row("ours_jsonl", f"ours fast, {reads['jsonl']}")
    if "warc" in shapes:
        rows["dt_one"] = Row("dt_one", "[info] datatrove fast, the single WARC (1 task busy)")
        rows["ours_one"] = Row("ours_one", "[info] ours fast, the single WARC")
    rows["ours_default"] = Row("ours_default", f"ours default (extract.fast=false), {reads[primary]}")
    rows["floor_fast"] = Row("floor_fast", f"extraction alone, fast (trafilatura {trafilatura.__version__})")
    rows["floor_default"] = Row("floor_default", "extraction alone, default")
    rows["floor_dt"] = Row("floor_dt", "[info] extraction alone, fast, datatrove venv")
    if not args.datatrove:
        for key in [k for k in rows if k.startswith("dt_") or k == "floor_dt"]:
            del rows[key]
    ours_key = f"ours_{primary}"  # ours fast in the main shape

    # (datatrove's input folder, its reader) and our input, per row
    dt_inputs: dict[str, tuple[Path, str]] = {}
    ours_inputs: dict[str, Path] = {f"ours_{s}": corpus.ours_input(s) for s in shapes}
    ours_inputs["ours_default"] = corpus.ours_input(primary)
    if corpus.pages is not None:
        dt_inputs["dt_folder"] = (corpus.pages, "html")
    if corpus.shards is not None and corpus.warc is not None:
        dt_inputs["dt_warc"] = (corpus.shards, "warc")
        single = out / "corpus" / f"single-{n}"  # a folder holding just the one WARC
        if not single.exists():
            single.mkdir()
            (single / corpus.warc.name).symlink_to(corpus.warc)
        dt_inputs["dt_one"] = (single, "warc")
        ours_inputs["ours_one"] = corpus.warc
    if corpus.jsonl is not None and corpus.jsonl_split is not None:
        dt_inputs["dt_jsonl"] = (corpus.jsonl.parent, "jsonl")
        dt_inputs["dt_jsonl_split"] = (corpus.jsonl_split, "jsonl")

    texts: dict[str, dict[str, str]] = {}
    text_keys = {ours_key: "ours_fast", "ours_default": "ours_default"}  # recall: the main shape's runs
    floor_pythons = {"floor_fast": sys.executable, "floor_default": sys.executable}
    if args.datatrove:
        floor_pythons["floor_dt"] = str(bench_python())
    readability_urls = [page_url(p.name, 0) for p in pages if p.expected is not None]

    def run_one(key: str, run_dir: Path) -> Measurement:
        if key in dt_inputs:
            source, reader = dt_inputs[key]
            return run_datatrove(source, reader, w, run_dir, fast=True)
        if key in ours_inputs:
            m = run_ours(ours_inputs[key], w, run_dir, fast=key != "ours_default")
            if m.returncode == 0:
                text_key = text_keys.get(key)
                if text_key and text_key not in texts:
                    texts[text_key] = our_texts(m.extra["warehouse"], corpus.file_urls)
                shutil.rmtree(m.extra["warehouse"])
            return m
        run_dir.mkdir(parents=True)
        result = run_dir / "floor.json"
        mode = "default" if key == "floor_default" else "fast"
        keep = n_readability if key not in texts else 0
        script = str(Path(__file__).resolve())
        cmd = [floor_pythons[key], script, "_floor", str(corpus.htmls), mode, str(w), str(result)]
        m = measure([*cmd, str(keep)], run_dir / "floor.log")
        if m.returncode == 0:
            data = json.loads(result.read_text())
            m.seconds = data["seconds"]  # the pool map alone
            m.extra["trafilatura"] = data["trafilatura"]
            if data["texts"]:
                texts[key] = dict(zip(readability_urls, data["texts"], strict=False))
            result.unlink()
        return m

    busy_runs = 0
    for repeat in range(args.repeats):
        for key, row in rows.items():
            attempts: list[Measurement] = []
            for attempt in range(1 + args.retries):
                suffix = f"-retry{attempt}" if attempt else ""
                wait_for_quiet(args.max_other_load)
                before = code_fingerprint()
                m = run_one(key, runs_dir / f"{key}-{repeat}{suffix}")
                code_changed = code_fingerprint() != before
                if code_changed:
                    m.extra["code_changed_during_run"] = True
                attempts.append(m)
                status = "ok" if m.returncode == 0 else f"FAILED rc={m.returncode}: {m.error} (log {m.log})"
                extra = {k: v for k, v in m.extra.items() if k != "warehouse"}
                print(
                    f"[run {repeat + 1}/{args.repeats}{'.' + str(attempt) if attempt else ''}] "
                    f"{row.label:<58} {m.seconds:8.2f} s  maxrss {m.maxrss_mb:6.0f} MB  "
                    f"tree PSS {m.tree_pss_mb:6.0f} MB  other load {m.other_load:4.2f}  "
                    f"{status} {extra or ''}",
                    flush=True,
                )
                if m.returncode != 0 and code_changed:
                    print("    the ETL's code changed during this run (someone is editing it): retrying")
                elif m.returncode == 0 and m.other_load > args.max_other_load:
                    print(
                        f"    other processes took {m.other_load:.2f} cores "
                        f"(> {args.max_other_load}): retrying"
                    )
                else:
                    break
                time.sleep(5)
            best = min(attempts, key=lambda a: (a.returncode != 0, a.other_load))
            busy_runs += best.returncode == 0 and best.other_load > args.max_other_load
            row.runs.append(best)
    if "floor_dt" in rows and rows["floor_dt"].ok_runs:
        version = rows["floor_dt"].ok_runs[0].extra["trafilatura"]
        rows["floor_dt"].label = f"[info] extraction alone, fast (trafilatura {version}, datatrove venv)"

    memory: tuple[float, float, Measurement] | None = None
    if big is not None and rows[ours_key].ok_runs:
        for attempt in range(1 + args.retries):
            before = code_fingerprint()
            m_big = run_ours(big.ours_input(primary), w, runs_dir / f"memory-10x-{attempt}", fast=True)
            changed = code_fingerprint() != before
            status = "ok" if m_big.returncode == 0 else f"FAILED rc={m_big.returncode}: {m_big.error}"
            print(
                f"[run] ours fast at {big.n} pages ({primary}): {m_big.seconds:.2f} s, "
                f"maxrss {m_big.maxrss_mb:.0f} MB, tree PSS {m_big.tree_pss_mb:.0f} MB, "
                f"other load {m_big.other_load:.2f}, {status} "
                f"{ {k: v for k, v in m_big.extra.items() if k != 'warehouse'} }",
                flush=True,
            )
            if m_big.returncode == 0 or not changed:
                break
            print("    the ETL's code changed during this run (someone is editing it): retrying")
        if m_big.returncode == 0:
            at_n = rows[ours_key].ok_runs  # fresh subprocesses at N pages: their median peak
            memory = (
                statistics.median(m.maxrss_mb for m in at_n),
                statistics.median(m.tree_pss_mb for m in at_n),
                m_big,
            )

    # ---- tables
    print()
    print(f"Throughput: {n} pages, {w} workers, median of {args.repeats} run(s)")
    print(f"{'approach':<70} {'seconds':>9} {'pages/s':>9} {'peak RSS MB':>12} {'other load':>11}")
    for row in rows.values():
        secs = row.seconds
        rate = n / secs if secs else None
        peak = f"{_peak(row.ok_runs)[0]:.0f}" if row.ok_runs else "n/a"
        failed = len(row.runs) - len(row.ok_runs)
        note = f"  ({failed} failed run(s))" if failed else ""
        load = f"{max(m.other_load for m in row.ok_runs):.2f}" if row.ok_runs else "n/a"
        print(f"{row.label:<70} {_fmt(secs):>9} {_fmt(rate, '.1f'):>9} {peak:>12} {load:>11}{note}")
    print(
        "  (peak RSS: the largest single process of a run; other load: CPU cores that processes outside "
        "the measured run used meanwhile, the most over the runs counted)"
    )

    def ratio(a: str, b: str) -> float | None:
        sa, sb = rows[a].seconds if a in rows else None, rows[b].seconds if b in rows else None
        return sa / sb if sa and sb else None

    results: dict[str, float | None] = {}
    # (shape, datatrove's row, our row, what datatrove reads, what we read, counted against the target)
    comparisons = [
        ("folder", "dt_folder", "ours_folder", f"{n} .html.gz files", "the same folder", True),
        ("warc", "dt_warc", "ours_warc", f"{w} WARC shards", "the same shards", True),
        ("warc", "dt_one", "ours_one", "[info] the single WARC", "the single WARC", False),
        ("jsonl", "dt_jsonl_split", "ours_jsonl", f"the JSONL split in {w} (fair)", "the one JSONL", True),
        ("jsonl", "dt_jsonl", "ours_jsonl", "[info] the one JSONL file", "the one JSONL", False),
    ]
    comparisons = [c for c in comparisons if c[0] in shapes]
    if args.datatrove:
        print()
        print(
            f"Per input shape: datatrove time / our fast time (= our throughput / datatrove's; "
            f"target >= {TARGET_VS_DATATROVE}):"
        )
        print(
            f"  {'shape':<7} {'datatrove reads':<30} {'ours reads':<17} {'datatrove s':>11} "
            f"{'ours s':>8} {'ratio':>7}"
        )
        for shape, dt_key, key, dt_reads, our_reads, counted in comparisons:
            value = ratio(dt_key, key)
            verdict = _verdict(value is not None and value >= TARGET_VS_DATATROVE) if counted else "(info)"
            if counted:
                results[f"vs_dt_{shape}"] = value
            print(
                f"  {shape:<7} {dt_reads:<30} {our_reads:<17} {_fmt(rows[dt_key].seconds):>11} "
                f"{_fmt(rows[key].seconds):>8} {_fmt(value):>6}x  {verdict}"
            )
        if "jsonl" in shapes:
            print(
                "  (jsonl: datatrove gives each task whole files, so on the one JSONL file one task reads "
                "everything while the others idle; the JSONL split into one file per worker, as the "
                "WARC shards, is the fair comparison)"
            )

    print()
    print(f"Targets against extraction alone ({primary} shape):")
    for mode in ("fast", "default"):
        key = ours_key if mode == "fast" else "ours_default"
        value = ratio(key, f"floor_{mode}")
        results[f"floor_{mode}"] = value
        verdict = _verdict(value is not None and value <= TARGET_VS_FLOOR)
        label = f"ours-{mode} time / extraction-alone-{mode} time"
        print(f"  {label:<52} {_fmt(value):>6}   (target <= {TARGET_VS_FLOOR})  {verdict}")
    inputs = {"ours_folder": "folder", "ours_warc": "shards", "ours_jsonl": "JSONL", "ours_one": "one WARC"}
    for key in [k for k in inputs if k in rows and k != ours_key]:
        label = f"[info] the same, ours-fast on the {inputs[key]}"
        print(f"  {label:<52} {_fmt(ratio(key, 'floor_fast')):>6}")
    if memory is not None:
        small_rss, small_pss, large = memory
        mem_ratio = large.maxrss_mb / small_rss
        results["memory"] = mem_ratio
        label = f"ours-fast peak RSS at {10 * n} / at {n} pages"
        print(
            f"  {label:<52} {mem_ratio:>6.2f}   (target <= {TARGET_MEMORY_RATIO})   "
            f"{_verdict(mem_ratio <= TARGET_MEMORY_RATIO)}   {large.maxrss_mb:.0f} MB / {small_rss:.0f} MB"
        )
        print(
            f"    (peak RSS = the largest single process, getrusage RUSAGE_CHILDREN of a fresh wrapper; "
            f"whole process tree, sampled PSS: {large.tree_pss_mb:.0f} MB / {small_pss:.0f} MB = "
            f"{large.tree_pss_mb / max(small_pss, 1e-9):.2f})"
        )

    print()
    print(
        f"Extraction recall on the {n_readability} readability pages (expected word 3-grams found; "
        f"ours: {primary} shape):"
    )
    print(f"  {'extractor':<46} {'median':>7} {'mean':>7} {'pages':>6} {'< 0.5':>6}")
    recall_summary: dict[str, tuple[float, float]] = {}
    for key, label in (
        ("ours_fast", "ours fast (segments: headers + text)"),
        ("ours_default", "ours default (segments: headers + text)"),
        ("floor_fast", "trafilatura.extract(fast=True)"),
        ("floor_default", "trafilatura.extract(fast=False)"),
    ):
        if key not in texts:
            print(f"  {label:<46} {'n/a':>7}")
            continue
        values = recalls(pages, texts[key])
        med, mean = statistics.median(values), statistics.fmean(values)
        recall_summary[key] = (med, mean)
        low = sum(v < 0.5 for v in values)
        print(f"  {label:<46} {med:7.3f} {mean:7.3f} {len(values):>6} {low:>6}")

    print()
    print(f"Sanity (first run of each; {n} records in every input):")
    for key, row in rows.items():
        if not row.ok_runs or not (key.startswith("ours") or key.startswith("dt_")):
            continue
        e = row.ok_runs[0].extra
        if key.startswith("ours"):
            print(
                f"  {row.label}: {e['documents']} documents, {e['segments']} segments "
                f"({e['kept']} kept), {e['rejects']} rejects"
            )
        else:
            per_task = e["read_per_task"]
            print(
                f"  {row.label}: read {sum(per_task)} ({' + '.join(map(str, per_task))} per task), "
                f"{e['filtered_docs']} after extraction + Gopher/C4 filters, "
                f"{e['output_docs']} after MinHash dedup"
            )
    if args.datatrove:
        print(
            "  datatrove configuration: Trafilatura(favour_precision=False, deduplicate=False, "
            f"timeout={DATATROVE_TIMEOUT_S:g}, fast mode: no_fallback=True on trafilatura 1.x); "
            "Gopher/C4 filters with spacy.blank('en') "
            "tokenisation; no language filter (its fastText model is a download); "
            f"tasks={w}, task k reading files k, k + {w}, ...: WarcReader on the WARCs, "
            "JsonlReader(text_key='html') on the JSONL, and on the folder HtmlFilesReader, a BaseDiskReader "
            "whose read_file yields one Document per file (the UTF-8 decoded page)"
        )

    if memory is not None:
        shutil.rmtree(memory[2].extra["warehouse"], ignore_errors=True)
    wall = time.perf_counter() - wall_started
    parts = [f"On {n} pages with {w} workers (median of {args.repeats})"]
    if rows[ours_key].seconds:
        parts.append(
            f"our ETL in fast mode took {rows[ours_key].seconds:.1f} s on {reads[primary]} "
            f"({n / rows[ours_key].seconds:.1f} pages/s)"
        )
    if args.datatrove:
        for shape, dt_key, key, dt_reads, _, counted in comparisons:
            if not counted:
                continue
            value = results[f"vs_dt_{shape}"]
            verdict = _verdict(value is not None and value >= TARGET_VS_DATATROVE)
            parts.append(
                f"{shape}: datatrove ({dt_reads.removesuffix(' (fair)')}) "
                f"{_fmt(rows[dt_key].seconds, '.1f')} s vs ours {_fmt(rows[key].seconds, '.1f')} s "
                f"= {_fmt(value)}x (target {TARGET_VS_DATATROVE}x: {verdict})"
            )
        if "jsonl" in shapes:
            parts.append(f"[info] datatrove on the one JSONL file: {_fmt(ratio('dt_jsonl', 'ours_jsonl'))}x")
    for mode in ("fast", "default"):
        value = results.get(f"floor_{mode}")
        parts.append(
            f"ours-{mode} / extraction-alone-{mode} = {_fmt(value)} "
            f"({_verdict(value is not None and value <= TARGET_VS_FLOOR)})"
        )
    if "memory" in results:
        parts.append(
            f"peak RSS grows {results['memory']:.2f}x from {n} to {10 * n} pages "
            f"({_verdict(results['memory'] <= TARGET_MEMORY_RATIO)})"
        )
    if recall_summary:
        parts.append(
            "readability 3-gram recall median/mean: "
            + ", ".join(f"{k} {v[0]:.3f}/{v[1]:.3f}" for k, v in recall_summary.items())
        )
    failed = sum(len(r.runs) - len(r.ok_runs) for r in rows.values())
    if failed:
        parts.append(f"{failed} counted run(s) FAILED (see the run lines)")
    if busy_runs:
        parts.append(
            f"{busy_runs} counted run(s) shared the CPU with other processes (> {args.max_other_load} "
            "cores) even after retries"
        )
    final_fingerprint = code_fingerprint()
    if final_fingerprint != fingerprint:
        parts.append(
            f"WARNING: the ETL's code changed during the benchmark ({fingerprint} -> {final_fingerprint}), "
            "so not every run measured the same code"
        )
    kept_files = args.out is not None or failed > 0
    if not kept_files:
        shutil.rmtree(out, ignore_errors=True)  # a temp dir of our own, corpora included
    print()
    print(
        "Summary: " + "; ".join(parts) + f". Whole benchmark wall time {wall / 60:.1f} min. "
        f"Command: {command}" + (f"  (files in {out})" if kept_files else "")
    )
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "_run":
        sys.exit(_run_wrapper(sys.argv[2:]))
    if len(sys.argv) > 1 and sys.argv[1] == "_floor":
        sys.exit(_floor_main(sys.argv[2:]))
    sys.exit(main())
