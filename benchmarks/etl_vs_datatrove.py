"""Benchmark: this ETL against datatrove and against trafilatura alone, on the same real pages.

What it measures, in one run:

* throughput (median wall seconds over `--repeats` runs, and pages/s) of
  - datatrove: WarcReader -> Trafilatura -> Gopher repetition, Gopher quality and C4 quality filters
    -> its four-stage MinHash dedup (14 buckets x 8 hashes, 5-grams) -> ParquetWriter, all stages timed
    as one subprocess, with `LocalPipelineExecutor(tasks=workers, workers=workers)` (the buckets stage
    needs tasks=14, the cluster stage 1);
  - this ETL, `humpback etl ... --no-progress` as a user runs it (a fresh subprocess and a fresh
    warehouse each run, nothing excluded), in trafilatura fast mode (the default) and in default mode
    (`--set extract.fast=false`);
  - the floor, "extraction alone": a multiprocessing.Pool over the pre-decoded HTML strings calling
    `trafilatura.extract(html, fast=...)`, timing the pool map only;
  - for information: datatrove reading the single WARC (it parallelises over files, so one task does all
    the work), and the floor with the trafilatura that datatrove pins (< 1.12) in its venv;
* the ratios against their targets (ours-fast >= 2.5x datatrove's throughput; ours / extraction alone
  <= 1.15 in both modes), each marked PASS or MISS (a miss never fails the exit code);
* extraction quality on the 130 Mozilla readability pages: the share of the expected text's word
  3-grams (expected.html.gz, tags stripped) found in our segments (headers + text, joined on the URL) and
  in trafilatura.extract's output, median and mean;
* peak memory of our ETL at N and at 10 x N pages (a second WARC; `--no-memory` skips it): ru_maxrss of
  the run's process tree (its largest process) from a fresh wrapper process, and the sampled peak of the
  summed PSS of the whole tree.

The corpus: the 130 readability `source.html.gz` pages and the HTML responses of
`warc/dolma_sample-000{0,1}.warc.gz` from `../shared/data`, replicated to `--pages` records, each copy
made byte-unique by a `<meta name="bench-copy">` tag (the text is unchanged, so near-duplicate detection
sees the same pages in both tools), written as one gzip WARC (URL `https://bench.example/<page>/<copy>`).
Our ETL and the floor read that file; datatrove reads the same records split round-robin into one WARC
per worker, because it parallelises over files and a single file would leave all but one task idle.

datatrove runs in its own venv, `.venv-bench` (created on first use), as a subprocess, offline: no
language filter (it downloads a fastText model), English words and sentences split by `spacy.blank("en")`
(datatrove's tokenizer for English; no model download, no nltk data), `HF_HUB_OFFLINE=1`.

The machine may be shared: every run reports the CPU that other processes used meanwhile ("other
load", in cores); each run waits for a quiet machine first and is retried (`--retries`) when other
processes took more than `--max-other-load` cores. A run during which the ETL's code changed (someone
editing it) and that failed is retried too.

Run from the repository root (about 15 minutes with the defaults on 2 cores):

    .venv/bin/python benchmarks/etl_vs_datatrove.py                  # --pages 1300 --workers 2 --repeats 3
    .venv/bin/python benchmarks/etl_vs_datatrove.py --pages 200 --repeats 1 --no-memory   # a quick check
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

REPO = Path(__file__).resolve().parents[1]
DATA = (REPO / ".." / "shared" / "data").resolve()
ETL_VENV = REPO / ".venv"
BENCH_VENV = REPO / ".venv-bench"
# datatrove[processing] pins trafilatura<1.12; WarcReader imports cchardet and magic (the "io" extra,
# whose other members we do not need); ParquetWriter needs pyarrow; the Gopher and C4 filters split
# English words and sentences with spacy.blank("en").
BENCH_PACKAGES = [
    "datatrove[processing]",
    "trafilatura",
    "lxml_html_clean",
    "warcio",
    "faust-cchardet",
    "python-magic",
    "pyarrow",
    "spacy",
]
BENCH_IMPORTS = "import datatrove, trafilatura, warcio, cchardet, magic, pyarrow, spacy, xxhash"
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
    warc: Path  # the single WARC: our ETL reads it
    shards: Path | None = None  # the same records in one WARC per worker: datatrove reads these
    htmls: Path | None = None  # JSON list of the decoded HTML strings: the floor reads it


def write_corpus(
    pages: list[Page], n: int, folder: Path, shards: int = 0, with_htmls: bool = False
) -> Corpus:
    from contextlib import ExitStack

    from warcio.warcwriter import WARCWriter

    folder.mkdir(parents=True, exist_ok=True)
    corpus = Corpus(n, folder / f"corpus-{n}.warc.gz")
    htmls: list[str] = []
    with ExitStack() as files:
        writer = WARCWriter(files.enter_context(open(corpus.warc, "wb")), gzip=True)
        shard_writers = []
        if shards:
            corpus.shards = folder / f"shards-{n}x{shards}"
            corpus.shards.mkdir(exist_ok=True)
            for k in range(shards):
                shard = files.enter_context(open(corpus.shards / f"part-{k:02d}.warc.gz", "wb"))
                shard_writers.append(WARCWriter(shard, gzip=True))
        for i, (url, markup) in enumerate(corpus_records(pages, n)):
            _warc_response(writer, url, markup)
            if shard_writers:
                _warc_response(shard_writers[i % len(shard_writers)], url, markup)
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


def _cpu_busy_seconds() -> float:
    """Busy CPU time of the whole machine, all cores, from /proc/stat (0.0 where there is none)."""
    try:
        with open("/proc/stat") as fh:
            fields = [int(v) for v in fh.readline().split()[1:]]
    except OSError:
        return 0.0
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def _cpu_self() -> float:
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


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
        busy = _cpu_busy_seconds()
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        rc = proc.wait()
        seconds = time.perf_counter() - started
        busy = _cpu_busy_seconds() - busy
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
        "tree_cpu_s": children.ru_utime + children.ru_stime + _cpu_self(),
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
    own_cpu = _cpu_self()
    proc = subprocess.Popen(wrapper, env=env, stdin=subprocess.DEVNULL)
    peak_kb = 0
    can_sample = os.path.isdir("/proc")
    while proc.poll() is None:
        if can_sample:
            peak_kb = max(peak_kb, sum(_pss_kb(p) for p in _process_tree(proc.pid)))
        time.sleep(0.2)
    own_cpu = _cpu_self() - own_cpu
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


def wait_for_quiet(max_load: float, max_wait_s: float = 90.0) -> float:
    """Wait (at most `max_wait_s`) until other processes use under `max_load` cores over 2 s; return the
    load last seen."""
    deadline = time.monotonic() + max_wait_s
    while True:
        busy, own = _cpu_busy_seconds(), _cpu_self()
        time.sleep(2.0)
        load = max(0.0, (_cpu_busy_seconds() - busy - (_cpu_self() - own)) / 2.0)
        if load < max_load or time.monotonic() > deadline:
            return load


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
from datatrove.pipeline.readers import ParquetReader, WarcReader
from datatrove.pipeline.writers import ParquetWriter


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
            WarcReader(p["input_dir"], glob_pattern="*.warc.gz"),
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


def run_datatrove(input_dir: Path, workers: int, run_dir: Path, fast: bool) -> Measurement:
    run_dir.mkdir(parents=True)
    script = run_dir.parent / "datatrove_pipeline.py"
    if not script.exists():
        script.write_text(DATATROVE_PIPELINE)
    params = run_dir / "params.json"
    params.write_text(
        json.dumps(
            {
                "input_dir": str(input_dir),
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
        m.extra["filtered_docs"] = _parquet_rows(run_dir / "work" / "filtered")
        m.extra["output_docs"] = _parquet_rows(run_dir / "work" / "output")
    return m


# --------------------------------------------------------------------------------------------------
# Our ETL


def run_ours(warc: Path, workers: int, run_dir: Path, fast: bool) -> Measurement:
    run_dir.mkdir(parents=True)
    warehouse = run_dir / "warehouse"
    cmd = [
        str(ETL_VENV / "bin" / "humpback"),
        "etl",
        str(warc),
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


def our_texts(warehouse: Path) -> dict[str, str]:
    """url -> the page's segments (header, then text) concatenated in order."""
    import duckdb

    con = duckdb.connect()
    rows = con.execute(
        f"SELECT url, string_agg(header || '\n' || text, '\n' ORDER BY position) "
        f"FROM '{warehouse}/segments/*.parquet' GROUP BY url"
    ).fetchall()
    con.close()
    return dict(rows)


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
    pages = load_pages(DATA)
    n_readability = sum(p.expected is not None for p in pages)
    started = time.perf_counter()
    corpus = write_corpus(pages, args.pages, out / "corpus", shards=args.workers, with_htmls=True)
    print(
        f"[setup] corpus: {len(pages)} distinct pages ({n_readability} readability, "
        f"{len(pages) - n_readability} dolma) -> {args.pages} records, "
        f"{corpus.warc.stat().st_size / 1e6:.1f} MB gzip WARC, {time.perf_counter() - started:.1f} s",
        flush=True,
    )
    big: Corpus | None = None
    if args.memory:
        started = time.perf_counter()
        big = write_corpus(pages, 10 * args.pages, out / "corpus")
        print(
            f"[setup] 10x corpus: {big.n} records, {big.warc.stat().st_size / 1e6:.1f} MB, "
            f"{time.perf_counter() - started:.1f} s",
            flush=True,
        )

    rows = {
        "dt": Row("dt", f"datatrove, fast (4 stages, {args.workers} WARC shards)"),
        "dt_one": Row("dt_one", "[info] datatrove, fast, the single WARC (1 task busy)"),
        "ours_fast": Row("ours_fast", "ours fast (humpback etl)"),
        "ours_default": Row("ours_default", "ours default (extract.fast=false)"),
        "floor_fast": Row("floor_fast", f"extraction alone, fast (trafilatura {trafilatura.__version__})"),
        "floor_default": Row("floor_default", "extraction alone, default"),
        "floor_dt": Row("floor_dt", "[info] extraction alone, fast, datatrove venv"),
    }
    if not args.datatrove:
        del rows["dt"], rows["dt_one"], rows["floor_dt"]
    texts: dict[str, dict[str, str]] = {}
    floor_pythons = {"floor_fast": sys.executable, "floor_default": sys.executable}
    if args.datatrove:
        floor_pythons["floor_dt"] = str(bench_python())
    readability_urls = [page_url(p.name, 0) for p in pages if p.expected is not None]

    def run_one(key: str, run_dir: Path) -> Measurement:
        if key in ("dt", "dt_one"):
            source = corpus.shards
            if key == "dt_one":
                source = out / "corpus" / f"single-{args.pages}"  # a folder holding just the one WARC
                if not source.exists():
                    source.mkdir()
                    (source / corpus.warc.name).symlink_to(corpus.warc)
            return run_datatrove(source, args.workers, run_dir, fast=True)
        if key.startswith("ours"):
            m = run_ours(corpus.warc, args.workers, run_dir, fast=key == "ours_fast")
            if m.returncode == 0:
                if key not in texts:
                    texts[key] = our_texts(m.extra["warehouse"])
                shutil.rmtree(m.extra["warehouse"])
            return m
        run_dir.mkdir(parents=True)
        result = run_dir / "floor.json"
        mode = "default" if key == "floor_default" else "fast"
        keep = n_readability if key not in texts else 0
        script = str(Path(__file__).resolve())
        cmd = [floor_pythons[key], script, "_floor", str(corpus.htmls), mode, str(args.workers), str(result)]
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
    if big is not None and rows["ours_fast"].ok_runs:
        for attempt in range(1 + args.retries):
            before = code_fingerprint()
            m_big = run_ours(big.warc, args.workers, runs_dir / f"memory-10x-{attempt}", fast=True)
            changed = code_fingerprint() != before
            status = "ok" if m_big.returncode == 0 else f"FAILED rc={m_big.returncode}: {m_big.error}"
            print(
                f"[run] ours fast at {big.n} pages: {m_big.seconds:.2f} s, maxrss {m_big.maxrss_mb:.0f} MB, "
                f"tree PSS {m_big.tree_pss_mb:.0f} MB, other load {m_big.other_load:.2f}, {status} "
                f"{ {k: v for k, v in m_big.extra.items() if k != 'warehouse'} }",
                flush=True,
            )
            if m_big.returncode == 0 or not changed:
                break
            print("    the ETL's code changed during this run (someone is editing it): retrying")
        if m_big.returncode == 0:
            at_n = rows["ours_fast"].ok_runs  # fresh subprocesses at N pages: their median peak
            memory = (
                statistics.median(m.maxrss_mb for m in at_n),
                statistics.median(m.tree_pss_mb for m in at_n),
                m_big,
            )

    # ---- table
    print()
    print(f"Throughput: {args.pages} pages, {args.workers} workers, median of {args.repeats} run(s)")
    print(f"{'approach':<70} {'seconds':>9} {'pages/s':>9} {'peak RSS MB':>12} {'other load':>11}")
    for row in rows.values():
        secs = row.seconds
        rate = args.pages / secs if secs else None
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

    print()
    print("Targets:")
    results: dict[str, float | None] = {}
    vs_dt = ratio("dt", "ours_fast")  # throughput ratio = datatrove time / our time
    results["vs_dt"] = vs_dt
    if args.datatrove:
        verdict = _verdict(vs_dt is not None and vs_dt >= TARGET_VS_DATATROVE)
        label = "ours-fast throughput / datatrove throughput"
        print(f"  {label:<52} {_fmt(vs_dt):>6}x  (target >= {TARGET_VS_DATATROVE})   {verdict}")
        label = "[info] the same against datatrove on the single WARC"
        print(f"  {label:<52} {_fmt(ratio('dt_one', 'ours_fast')):>6}x")
    for mode in ("fast", "default"):
        value = ratio(f"ours_{mode}", f"floor_{mode}")
        results[f"floor_{mode}"] = value
        verdict = _verdict(value is not None and value <= TARGET_VS_FLOOR)
        label = f"ours-{mode} time / extraction-alone-{mode} time"
        print(f"  {label:<52} {_fmt(value):>6}   (target <= {TARGET_VS_FLOOR})  {verdict}")
    if memory is not None:
        small_rss, small_pss, large = memory
        mem_ratio = large.maxrss_mb / small_rss
        results["memory"] = mem_ratio
        label = f"ours-fast peak RSS at {10 * args.pages} / at {args.pages} pages"
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
    print(f"Extraction recall on the {n_readability} readability pages (expected word 3-grams found):")
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
    print("Sanity (first run of each):")
    for key in ("ours_fast", "ours_default"):
        if rows[key].ok_runs:
            e = rows[key].ok_runs[0].extra
            print(
                f"  {rows[key].label}: {e['documents']} documents, {e['segments']} segments "
                f"({e['kept']} kept), {e['rejects']} rejects"
            )
    if "dt" in rows and rows["dt"].ok_runs:
        e = rows["dt"].ok_runs[0].extra
        print(
            f"  datatrove: {args.pages} read, {e['filtered_docs']} after extraction + Gopher/C4 filters, "
            f"{e['output_docs']} after MinHash dedup"
        )
        print(
            "  datatrove configuration: Trafilatura(favour_precision=False, deduplicate=False, "
            f"timeout={DATATROVE_TIMEOUT_S:g}, fast mode: no_fallback=True on trafilatura 1.x); "
            "Gopher/C4 filters with spacy.blank('en') "
            "tokenisation; no language filter (its fastText model is a download); "
            f"input split into {args.workers} WARC shards, one per task"
        )

    if memory is not None:
        shutil.rmtree(memory[2].extra["warehouse"], ignore_errors=True)
    wall = time.perf_counter() - wall_started
    parts = [f"On {args.pages} pages with {args.workers} workers (median of {args.repeats})"]
    if rows["ours_fast"].seconds:
        parts.append(
            f"our ETL in fast mode took {rows['ours_fast'].seconds:.1f} s "
            f"({args.pages / rows['ours_fast'].seconds:.1f} pages/s)"
        )
    if args.datatrove and rows["dt"].seconds:
        parts.append(
            f"datatrove took {rows['dt'].seconds:.1f} s, so ours has {_fmt(vs_dt)}x its throughput "
            f"(target {TARGET_VS_DATATROVE}x: {_verdict(vs_dt is not None and vs_dt >= 2.5)})"
        )
    for mode in ("fast", "default"):
        value = results.get(f"floor_{mode}")
        parts.append(
            f"ours-{mode} / extraction-alone-{mode} = {_fmt(value)} "
            f"({_verdict(value is not None and value <= TARGET_VS_FLOOR)})"
        )
    if "memory" in results:
        parts.append(
            f"peak RSS grows {results['memory']:.2f}x from {args.pages} to {10 * args.pages} pages "
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
