"""Benchmark: self-curation and self-augmentation against distilabel and a plain llama.cpp loop.

Everything runs on the same (instruction, segment) pairs, with the same embedded GGUF model and the same
number of threads:

* distilabel: its `InstructionBacktranslation` task with its `LlamaCppLLM` on the same GGUF file, in its
  own venv (`.venv-bench`) as a subprocess; the task is loaded first and only its `process` call is
  timed. Greedy (temperature 0, like our curation) with the token budget of our reasoned mode, and a
  context of 4096 tokens (its default 512 cannot hold the rubric and a segment); the chat format is the
  one llama-cpp-python picks for the GGUF unless `--distilabel-chat-format` names one (the embedded GGUF
  carries no chat template, so it falls back to `llama-2`). A row counts as scored when distilabel's
  `score` column is not None; why the others were not is printed (its parser wants `Score: <digit>`).
* humpback curate, direct and reasoned mode, through the library API (`inference.curate.curate`), each on
  a fresh scratch warehouse; the time is the stage report's (the batches, prefix decode included; the
  model load and the SQL selection excluded). A row counts as scored when its status is `ok`.
* the llama.cpp bound for direct mode: llama.cpp's own prompt-processing speed, measured in the same run
  (median of 3), divided by the uncached tokens per pair of the direct run. Two rates: at depth 0
  (`LocalEngine.prompt_rate(512)`, llama-bench's `pp512`), and after as many cached tokens as the
  prompt's fixed prefix (`prompt_rate(512, depth=...)`, llama-bench's `-d`), which is the work a row
  really does: each of its tokens attends to the cached prefix. The target is judged on the second;
  both are printed, with the time spent inside llama_decode.
* humpback augment (`inference.augment.augment`) against a plain loop of `llama_cpp.Llama.create_completion`
  over the full few-shot prompts (prefix + segment), with `llm.reset()` before each call so the prefix
  is read again every time (checked with llama.cpp's perf counters), both cleaned by the same
  `clean_instruction`.

The machine may be shared: each run waits for a quiet machine (`--quiet-load`, up to `--max-wait` s) and
is retried (`--retries`) when other processes used more than `--max-other-load` cores meanwhile.

The segments (`--source etl`, the default): what curation gets in a real run, the kept segments of this
project's ETL over the Mozilla readability test pages as served (`../shared/data`), the first `--pairs`
by segment id. `--source headers`: paragraphs under each h2/h3 header of the pages' `expected.html.gz`,
300-2000 characters (longer than the ETL's typical segment). The instruction of each is
"Explain: <header>". The benchmark is about throughput, not quality.

Run from the repository root (about 4 minutes with the defaults on a quiet 2-core machine):

    .venv/bin/python -m benchmarks.curate_vs_distilabel                     # 24 pairs, all cores
    .venv/bin/python -m benchmarks.curate_vs_distilabel --pairs 8 --no-distilabel --out results.json

distilabel must be installed in `.venv-bench` (`.venv-bench/bin/pip install distilabel llama-cpp-python`).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import xxhash

from benchmarks.harness import ROOT as REPO  # and the repository's packages on the import path, from anywhere
from benchmarks.harness import SHARED_DATA as DATA
from benchmarks.harness import LoadMeter, wait_for_quiet

PAGES = DATA / "html" / "mozilla_readability" / "test-pages"
BENCH_PYTHON = REPO / ".venv-bench" / "bin" / "python"
MIN_CHARS, MAX_CHARS = 300, 2000
SEGMENT_HEADERS = {"h2", "h3"}
ALL_HEADERS = {"h1", "h2", "h3", "h4", "h5", "h6"}
BLOCKS = {"p", "li", "pre", "blockquote", "dd", "dt", "td", "th", "figcaption"}
PLAIN_N_CTX = 4096
DISTILABEL_N_CTX = 4096
TARGET_DIRECT_VS_DISTILABEL = 6.0
TARGET_DIRECT_VS_BOUND = 0.85
TARGET_AUGMENT_VS_PLAIN = 2.0

# Runs in .venv-bench.
# argv: pairs.jsonl out.json model threads n_ctx max_new_tokens temperature repeats [chat_format]
DISTILABEL_RUNNER = r"""
import json, os, sys, time, warnings
warnings.filterwarnings("ignore")
pairs_path, out_path, model_path = sys.argv[1], sys.argv[2], sys.argv[3]
threads, n_ctx, max_new_tokens = int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
temperature, repeats = float(sys.argv[7]), int(sys.argv[8])
chat_format = sys.argv[9] if len(sys.argv) > 9 and sys.argv[9] else None
import distilabel
try:
    from distilabel.models.llms import LlamaCppLLM
except ImportError:
    from distilabel.llms import LlamaCppLLM
from distilabel.steps.tasks import InstructionBacktranslation
import llama_cpp

rows = [json.loads(line) for line in open(pairs_path)]
inputs = [{"instruction": r["instruction"], "generation": r["text"]} for r in rows]
llm = LlamaCppLLM(
    model_path=model_path,
    n_ctx=n_ctx,
    chat_format=chat_format,
    extra_kwargs={"n_threads": threads, "n_threads_batch": threads},
    generation_kwargs={"temperature": temperature, "max_new_tokens": max_new_tokens},
)
task = InstructionBacktranslation(llm=llm, use_cache=False, input_batch_size=max(1, len(inputs)))
started = time.perf_counter()
task.load()
load_seconds = time.perf_counter() - started
runs = []
for _ in range(repeats):
    started = time.perf_counter()
    outputs = next(task.process([dict(x) for x in inputs]))
    seconds = time.perf_counter() - started
    results = []
    for out in outputs:
        meta = out.get("distilabel_metadata") or {}
        raw = next((v for k, v in meta.items() if k.startswith("raw_output_")), None)
        stats = next((v for k, v in meta.items() if k.startswith("statistics_")), None) or {}
        out_tokens = stats.get("output_tokens")
        in_tokens = stats.get("input_tokens")
        results.append({
            "score": out.get("score"),
            "raw_output": raw,
            "output_tokens": out_tokens[0] if isinstance(out_tokens, list) and out_tokens else out_tokens,
            "input_tokens": in_tokens[0] if isinstance(in_tokens, list) and in_tokens else in_tokens,
        })
    runs.append({"seconds": seconds, "rows": results})
# distilabel keeps no token counts for rows whose output it failed to parse: count them after timing
vocab = llama_cpp.Llama(model_path=model_path, vocab_only=True, verbose=False)
for run in runs:
    for r in run["rows"]:
        if r["output_tokens"] is None and r["raw_output"] is not None:
            r["output_tokens"] = len(vocab.tokenize(r["raw_output"].encode("utf-8"), add_bos=False))
with open(out_path, "w") as fh:
    json.dump({
        "distilabel_version": distilabel.__version__,
        "llama_cpp_version": llama_cpp.__version__,
        "load_seconds": load_seconds,
        "chat_format": getattr(llm._model, "chat_format", None),  # what llama-cpp-python chose
        "gguf_has_chat_template": "tokenizer.chat_template" in (getattr(llm._model, "metadata", None) or {}),
        "runs": runs,
    }, fh)
sys.stdout.flush()
os._exit(0)  # llama-cpp-python's finalizer fails noisily at interpreter shutdown
"""


# --------------------------------------------------------------------------------------------------
# Pairs


@dataclass(frozen=True)
class Pair:
    page: str
    position: int
    header: str
    text: str

    @property
    def instruction(self) -> str:
        return f"Explain: {self.header}"

    @property
    def segment_id(self) -> str:
        return xxhash.xxh3_128_hexdigest(f"{self.page}|{self.position}".encode())[:24]


def _words(text: str) -> str:
    return " ".join(text.split())


def page_segments(page: str, markup: str) -> list[Pair]:
    """The text of the block elements after each h2/h3 header, up to the next header of any level."""
    import lxml.html

    root = lxml.html.fromstring(markup)
    found: list[Pair] = []
    header: str | None = None
    body: list[str] = []

    def flush() -> None:
        if header:
            found.append(Pair(page, len(found), header, "\n".join(body)))

    for element in root.iter():
        if not isinstance(element.tag, str):
            continue
        if element.tag in ALL_HEADERS:
            flush()
            header = _words(element.text_content()) if element.tag in SEGMENT_HEADERS else None
            body = []
        elif element.tag in BLOCKS and not any(a.tag in BLOCKS for a in element.iterancestors()):
            text = _words(element.text_content())
            if text:
                body.append(text)
    flush()
    return found


def etl_pairs(n: int, scratch: Path) -> list[Pair]:
    """What `humpback curate` really gets: the kept segments of this project's ETL over the readability
    pages as served (`source.html.gz`), in segment-id order, each with an instruction made from its header."""
    from etl.pipeline import run_etl
    from etl.settings import Settings
    from warehouse.connect import connect, query

    root = scratch / "etl"
    run_etl([PAGES], root, Settings(), show_progress=False)
    con = connect(root)
    rows = query(
        con,
        "SELECT url, position, coalesce(nullif(header, ''), header_path, 'this text') AS header, text "
        "FROM segments WHERE keep ORDER BY segment_id LIMIT $n",
        {"n": n},
    )
    con.close()
    if rows.height < n:
        raise SystemExit(f"the ETL kept only {rows.height} segments of {PAGES}, asked {n}")
    return [Pair(r["url"], r["position"], r["header"], r["text"]) for r in rows.iter_rows(named=True)]


def load_pairs(n: int) -> list[Pair]:
    pairs: list[Pair] = []
    seen: set[str] = set()
    for folder in sorted(PAGES.iterdir()):
        expected = folder / "expected.html.gz"
        if not expected.is_file():
            continue
        markup = gzip.decompress(expected.read_bytes()).decode("utf-8", "replace")
        if not markup.strip():
            continue
        for pair in page_segments(folder.name, markup):
            if MIN_CHARS <= len(pair.text) <= MAX_CHARS and pair.text not in seen:
                seen.add(pair.text)
                pairs.append(pair)
                if len(pairs) == n:
                    return pairs
    raise SystemExit(
        f"only {len(pairs)} segments of {MIN_CHARS}-{MAX_CHARS} characters in {PAGES}, asked {n}"
    )


# --------------------------------------------------------------------------------------------------
# Scratch warehouses


def write_segments(root: Path, pairs: list[Pair]) -> None:
    from warehouse.schemas import SEGMENTS

    rows = [
        {
            "segment_id": p.segment_id,
            "doc_id": xxhash.xxh3_128_hexdigest(p.page.encode()),
            "url": f"file://{PAGES / p.page / 'expected.html.gz'}",
            "source": f"{p.page}/expected.html.gz",
            "header": p.header,
            "header_level": 2,
            "header_path": p.header,
            "position": p.position,
            "text": p.text,
            "n_chars": len(p.text),
            "n_words": len(p.text.split()),
            "n_lines": p.text.count("\n") + 1,
            "lang": "en",
            "lang_score": 1.0,
            "text_hash": xxhash.xxh3_64_intdigest(p.text.encode()),
            "dup_cluster": None,
            "is_duplicate": False,
            "keep": True,
            "reasons": [],
        }
        for p in pairs
    ]
    (root / "segments").mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=SEGMENTS), root / "segments" / "part-0.parquet")


def write_augmentations(root: Path, pairs: list[Pair]) -> None:
    from warehouse.schemas import AUGMENTATIONS

    now = datetime.now(UTC)
    rows = [
        {
            "augmentation_id": xxhash.xxh3_128_hexdigest(f"{p.segment_id}|benchmark".encode()),
            "segment_id": p.segment_id,
            "iteration": 0,
            "backward_model": "benchmark",
            "instruction": p.instruction,
            "status": "ok",
            "raw_output": p.instruction,
            "sampling_seed": 0,
            "model": "benchmark",
            "model_source": "benchmarks/curate_vs_distilabel.py",
            "prompt_version": "explain-header-v1",
            "params": "{}",
            "prompt_tokens": None,
            "uncached_tokens": None,
            "completion_tokens": None,
            "input_truncated": False,
            "batch_id": "benchmark",
            "created_at": now,
        }
        for p in pairs
    ]
    (root / "augmentations").mkdir(parents=True, exist_ok=True)
    pq.write_table(
        pa.Table.from_pylist(rows, schema=AUGMENTATIONS), root / "augmentations" / "part-0.parquet"
    )


def fresh_copy(template: Path, scratch: Path, name: str) -> Path:
    target = scratch / name
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(template, target)
    return target


# --------------------------------------------------------------------------------------------------
# Other processes' CPU use: the machine may be shared


def measured(name: str, run, args: argparse.Namespace) -> dict:
    """`run()` on a quiet machine, again (up to `--retries` times) when other processes got in the way."""
    result: dict = {}
    for attempt in range(args.retries + 1):
        wait_for_quiet(args.quiet_load, args.max_wait, announce=True)
        meter = LoadMeter()
        result = run()
        result["other_load"] = meter.other_load()
        result["attempts"] = attempt + 1
        if result["other_load"] <= args.max_other_load:
            break
        if attempt < args.retries:
            print(
                f"  {name}: other processes used {result['other_load']:.2f} cores meanwhile, retrying",
                flush=True,
            )
    return result


# --------------------------------------------------------------------------------------------------
# The approaches


def run_curate(engine, root: Path, mode: str) -> dict[str, object]:
    from inference.curate import curate
    from warehouse.store import Warehouse

    decode_before = getattr(engine, "decode_seconds", 0.0)
    report = curate(Warehouse(root), engine, mode=mode, limit=None, show_progress=False)
    return {
        "decode_seconds": getattr(engine, "decode_seconds", 0.0) - decode_before,  # inside llama_decode
        "pairs": report.computed,
        "seconds": report.seconds,
        "scored": report.statuses.get("ok", 0),
        "statuses": dict(report.statuses),
        "uncached_tokens": report.uncached_tokens,
        "completion_tokens": report.completion_tokens,
    }


def run_augment(engine, root: Path) -> dict[str, object]:
    from inference.augment import augment
    from warehouse.store import Warehouse

    report = augment(Warehouse(root), engine, limit=None, show_progress=False)
    return {
        "pairs": report.computed,
        "seconds": report.seconds,
        "scored": report.statuses.get("ok", 0),
        "statuses": dict(report.statuses),
        "uncached_tokens": report.uncached_tokens,
        "completion_tokens": report.completion_tokens,
    }


class PlainLoop:
    """llama_cpp.Llama.create_completion over the full few-shot prompts, one row at a time."""

    def __init__(self, model_path: Path, seeds_root: Path, threads: int) -> None:
        import llama_cpp
        import polars as pl

        from inference.prompts.backtranslate import build_backtranslate_prompt
        from inference.sampling import Sampling
        from warehouse.connect import connect, query

        con = connect(seeds_root)
        seeds = query(con, "SELECT * FROM seeds")
        con.close()
        self.prompt = build_backtranslate_prompt(seeds)
        self.examples = frozenset(
            seeds.filter(pl.col("seed_id").is_in(list(self.prompt.seed_ids)))["instruction"]
            .str.strip_chars()
            .to_list()
        )
        self.sampling = Sampling()
        started = time.perf_counter()
        self.llm = llama_cpp.Llama(
            model_path=str(model_path),
            n_ctx=PLAIN_N_CTX,
            n_threads=threads,
            n_threads_batch=threads,
            verbose=False,
        )
        self.load_seconds = time.perf_counter() - started

    def run(self, pairs: list[Pair]) -> dict[str, object]:
        import llama_cpp

        from inference.prompts.backtranslate import STOP, clean_instruction
        from inference.sampling import row_seed

        llm, sampling = self.llm, self.sampling
        ok = prompt_tokens = evaluated = completion_tokens = full_reads = 0
        started = time.perf_counter()
        for pair in pairs:
            llm.reset()  # forget the previous prompt: no prefix reuse, the whole prompt is read again
            llama_cpp.llama_perf_context_reset(llm.ctx)
            out = llm.create_completion(
                self.prompt.prefix + self.prompt.suffix(pair.text),
                max_tokens=sampling.max_new_tokens,
                temperature=sampling.temperature,
                top_p=sampling.top_p,
                stop=list(STOP),
                seed=row_seed(sampling.seed, f"{pair.segment_id}|0") & 0xFFFF_FFFF,
            )
            perf = llama_cpp.llama_perf_context(llm.ctx)
            choice = out["choices"][0]
            usage = out["usage"]
            _, status = clean_instruction(choice["text"], choice["finish_reason"] == "stop", self.examples)
            ok += status == "ok"
            prompt_tokens += usage["prompt_tokens"]
            completion_tokens += usage["completion_tokens"]
            evaluated += perf.n_p_eval
            full_reads += perf.n_p_eval >= usage["prompt_tokens"] - 1  # a 1-token last chunk counts as eval
        return {
            "pairs": len(pairs),
            "seconds": time.perf_counter() - started,
            "scored": ok,
            "prompt_tokens": prompt_tokens,
            "prompt_tokens_evaluated": evaluated,
            "calls_reading_whole_prompt": full_reads,
            "completion_tokens": completion_tokens,
        }

    def close(self) -> None:
        self.llm.close()


def run_distilabel(
    model_path: Path,
    pairs: list[Pair],
    threads: int,
    max_new_tokens: int,
    temperature: float,
    chat_format: str | None,
    scratch: Path,
) -> dict:
    """One run of distilabel's task in .venv-bench: a fresh subprocess, the model load not timed."""
    if not BENCH_PYTHON.is_file():
        raise SystemExit(
            f"{BENCH_PYTHON} not found: create .venv-bench and pip install distilabel llama-cpp-python"
        )
    pairs_path = scratch / "pairs.jsonl"
    out_path = scratch / "distilabel.json"
    runner = scratch / "distilabel_runner.py"
    log = scratch / "distilabel.log"
    out_path.unlink(missing_ok=True)
    pairs_path.write_text(
        "".join(json.dumps({"instruction": p.instruction, "text": p.text}) + "\n" for p in pairs)
    )
    runner.write_text(DISTILABEL_RUNNER)
    command = [
        str(BENCH_PYTHON),
        str(runner),
        str(pairs_path),
        str(out_path),
        str(model_path),
        str(threads),
        str(DISTILABEL_N_CTX),
        str(max_new_tokens),
        str(temperature),
        "1",
        chat_format or "",
    ]
    env = os.environ | {"HF_HUB_OFFLINE": "1", "PYTHONWARNINGS": "ignore"}
    with log.open("w") as fh:
        done = subprocess.run(command, stdout=fh, stderr=subprocess.STDOUT, env=env, cwd=scratch, check=False)
    if done.returncode != 0 or not out_path.is_file():
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-30:])
        raise SystemExit(f"the distilabel run failed (exit {done.returncode}):\n{tail}")
    result = json.loads(out_path.read_text())
    run = result.pop("runs")[0]
    rows = run["rows"]
    return result | {
        "pairs": len(rows),
        "seconds": run["seconds"],
        "scored": sum(r["score"] is not None for r in rows),
        "completion_tokens": sum(r["output_tokens"] or 0 for r in rows),
        "rows": rows,
    }


def diagnose_distilabel(rows: list[dict], max_new_tokens: int) -> dict[str, object]:
    """Why distilabel's score parsing (regex `(.+?)Score: (\\d)` on the output) did or did not match."""
    outputs = [r["raw_output"] or "" for r in rows]
    return {
        "outputs_with_score_line": sum("Score:" in o for o in outputs),
        "outputs_with_digit_score": sum(any(f"Score: {k}" in o for k in "12345") for o in outputs),
        "outputs_echoing_the_rubric": sum(
            o.lstrip().startswith("Below is an instruction from") for o in outputs
        ),
        "outputs_at_token_limit": sum((r["output_tokens"] or 0) >= max_new_tokens for r in rows),
        "mean_output_tokens": statistics.fmean([r["output_tokens"] or 0 for r in rows]) if rows else 0.0,
        "example_outputs": outputs[:2],
    }


# --------------------------------------------------------------------------------------------------
# Report


def median_run(runs: list[dict]) -> dict:
    """The run with the median time (the lower middle one for an even count), for its other figures."""
    ordered = sorted(runs, key=lambda r: r["seconds"])
    chosen = dict(ordered[(len(ordered) - 1) // 2])
    chosen["seconds"] = statistics.median(r["seconds"] for r in runs)
    chosen["seconds_each"] = [r["seconds"] for r in runs]
    chosen["other_load_each"] = [r["other_load"] for r in runs]
    chosen.pop("rows", None)
    return chosen


def rate(run: dict) -> float:
    return run["pairs"] / run["seconds"] if run["seconds"] else 0.0


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=int, default=24)
    parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument("--parallel", type=int, default=8, help="rows decoded together by humpback's engine")
    parser.add_argument(
        "--repeats", type=int, default=1, help="runs of each approach; the median time is shown"
    )
    parser.add_argument(
        "--source",
        choices=("etl", "headers"),
        default="etl",
        help="etl: kept segments of our ETL over the readability pages (what curate gets in a run); "
        f"headers: text under h2/h3 of their expected.html, {MIN_CHARS}-{MAX_CHARS} characters",
    )
    parser.add_argument("--no-distilabel", action="store_true")
    parser.add_argument(
        "--distilabel-max-new-tokens",
        type=int,
        default=None,
        help="default: our reasoned mode's token budget",
    )
    parser.add_argument("--distilabel-temperature", type=float, default=0.0)
    parser.add_argument(
        "--distilabel-chat-format",
        default=None,
        help="llama-cpp-python chat format for distilabel (default: what it picks for the GGUF)",
    )
    parser.add_argument("--out", type=Path, default=None, help="write all figures as JSON")
    parser.add_argument(
        "--max-other-load", type=float, default=0.3, help="retry a run when other processes used more cores"
    )
    parser.add_argument("--quiet-load", type=float, default=0.2, help="wait for other load below this first")
    parser.add_argument("--max-wait", type=float, default=600.0, help="seconds to wait for a quiet machine")
    parser.add_argument("--retries", type=int, default=2)
    args = parser.parse_args(argv)

    from etl.seeds.table import add_seeds
    from inference.curation.rater import default_sampling
    from inference.engines import open_engine
    from inference.models import embedded_model_path
    from inference.prompts.rating import build_rating_prompt
    from warehouse.store import Warehouse

    model_path = embedded_model_path()
    max_new_tokens = args.distilabel_max_new_tokens or default_sampling("reasoned").max_new_tokens
    pair_scratch = Path(tempfile.mkdtemp(prefix="curate-bench-pairs-"))
    try:
        pairs = etl_pairs(args.pairs, pair_scratch) if args.source == "etl" else load_pairs(args.pairs)
    finally:
        shutil.rmtree(pair_scratch, ignore_errors=True)
    print(
        f"{len(pairs)} pairs ({sum(len(p.text) for p in pairs) / len(pairs):.0f} characters per segment on "
        f"average), model {model_path.name}, {args.threads} threads, parallel {args.parallel}, "
        f"{args.repeats} repeat(s)",
        flush=True,
    )
    runs: dict[str, list[dict]] = {k: [] for k in ("distilabel", "direct", "reasoned", "augment", "plain")}
    prompt_rates: list[float] = []
    depth_rates: list[float] = []

    def show(name: str, r: int, run: dict) -> None:
        extra = f", statuses {run['statuses']}" if "statuses" in run else f", {run['scored']} ok"
        print(
            f"[{r + 1}/{args.repeats}] {name}: {run['pairs']} rows in {run['seconds']:.1f} s{extra}, "
            f"other load {run['other_load']:.2f} cores (attempt {run['attempts']})",
            flush=True,
        )

    with tempfile.TemporaryDirectory(prefix="curate-bench-") as tmp:
        scratch = Path(tmp)
        curate_template = scratch / "template-curate"
        write_segments(curate_template, pairs)
        write_augmentations(curate_template, pairs)
        augment_template = scratch / "template-augment"
        write_segments(augment_template, pairs)
        add_seeds(Warehouse(augment_template))

        started = time.perf_counter()
        engine = open_engine(None, parallel=args.parallel, threads=args.threads)
        engine_load_seconds = time.perf_counter() - started
        direct_prefix_tokens = len(engine.tokenize(build_rating_prompt("direct").prefix, add_bos=True))
        plain = PlainLoop(model_path, augment_template, args.threads)
        try:
            for r in range(args.repeats):
                measure = measured("prompt rate", lambda: {"rate": engine.prompt_rate(n_tokens=512)}, args)
                prompt_rates.append(measure["rate"])
                at_depth = measured(
                    "prompt rate at depth",
                    lambda: {"rate": engine.prompt_rate(n_tokens=512, depth=direct_prefix_tokens)},
                    args,
                )
                depth_rates.append(at_depth["rate"])
                print(
                    f"[{r + 1}/{args.repeats}] llama.cpp prompt rate {measure['rate']:,.0f} tok/s, "
                    f"other load {measure['other_load']:.2f} cores",
                    flush=True,
                )
                for mode in ("direct", "reasoned"):
                    run = measured(
                        f"curate {mode}",
                        lambda mode=mode, r=r: run_curate(
                            engine, fresh_copy(curate_template, scratch, f"curate-{mode}-{r}"), mode
                        ),
                        args,
                    )
                    runs[mode].append(run)
                    show(f"curate {mode}", r, run)
                run = measured(
                    "augment",
                    lambda r=r: run_augment(engine, fresh_copy(augment_template, scratch, f"augment-{r}")),
                    args,
                )
                runs["augment"].append(run)
                show("augment", r, run)
                run = measured("plain loop", lambda: plain.run(pairs), args)
                runs["plain"].append(run)
                show("plain loop", r, run)
        finally:
            engine.close()
            plain.close()

        if not args.no_distilabel:
            for r in range(args.repeats):
                run = measured(
                    "distilabel",
                    lambda: run_distilabel(
                        model_path,
                        pairs,
                        args.threads,
                        max_new_tokens,
                        args.distilabel_temperature,
                        args.distilabel_chat_format,
                        scratch,
                    ),
                    args,
                )
                runs["distilabel"].append(run)
                show("distilabel", r, run)

    results = {k: median_run(v) for k, v in runs.items() if v}
    prompt_rate = statistics.median(prompt_rates)
    direct = results["direct"]
    tokens_per_pair = direct["uncached_tokens"] / direct["pairs"]
    bound = prompt_rate / tokens_per_pair
    depth_rate = statistics.median(depth_rates)
    depth_bound = depth_rate / tokens_per_pair
    distilabel = runs["distilabel"][-1] if runs["distilabel"] else None

    labels = {
        "distilabel": f"distilabel InstructionBacktranslation + LlamaCppLLM (max {max_new_tokens} tokens)",
        "direct": "humpback curate, direct",
        "reasoned": "humpback curate, reasoned",
        "bound": "llama.cpp bound for direct, depth 0 (prompt rate / tokens per pair)",
        "depth_bound": "llama.cpp bound for direct, after the prefix (llama-bench -d)",
        "augment": "humpback augment",
        "plain": "plain llama_cpp.Llama loop, full prompts (augmentation)",
    }
    print()
    print(f"{'approach':<70} {'pairs':>5} {'seconds':>8} {'pairs/s':>8} {'scored':>7} {'other load':>11}")
    for key in ("distilabel", "direct", "reasoned", "bound", "depth_bound", "augment", "plain"):
        if key in ("bound", "depth_bound"):
            print(f"{labels[key]:<70} {'':>5} {'':>8} {bound if key == 'bound' else depth_bound:>8.2f}")
            continue
        if key not in results:
            continue
        run = results[key]
        share = run["scored"] / run["pairs"] if run["pairs"] else 0.0
        print(
            f"{labels[key]:<70} {run['pairs']:>5} {run['seconds']:>8.1f} {rate(run):>8.2f} {share:>7.0%} "
            f"{max(run['other_load_each']):>11.2f}"
        )
    print(
        "(scored: a parsed score for curation, a clean instruction (status ok) for augmentation; other load: "
        "the most CPU cores other processes used during a run)"
    )

    ratios: list[dict[str, object]] = []

    def ratio(name: str, value: float, shown: str, target: str, ok: bool | None) -> None:
        result = "-" if ok is None else verdict(ok)
        ratios.append({"ratio": name, "value": value, "shown": shown, "target": target, "result": result})

    if "distilabel" in results and rate(results["distilabel"]):
        value = rate(direct) / rate(results["distilabel"])
        all_scored = direct["scored"] == direct["pairs"]
        ratio(
            "direct / distilabel",
            value,
            f"{value:.1f}x",
            f">= {TARGET_DIRECT_VS_DISTILABEL:g}x, all rows scored",
            value >= TARGET_DIRECT_VS_DISTILABEL and all_scored,
        )
        value = rate(results["reasoned"]) / rate(results["distilabel"])
        ratio("reasoned / distilabel", value, f"{value:.1f}x", "-", None)
    value = rate(direct) / depth_bound
    ratio(
        "direct / bound at depth",
        value,
        f"{value:.0%}",
        f">= {TARGET_DIRECT_VS_BOUND:.0%}",
        value >= TARGET_DIRECT_VS_BOUND,
    )
    value = rate(direct) / bound
    ratio(
        "direct / bound at depth 0",
        value,
        f"{value:.0%}",
        f">= {TARGET_DIRECT_VS_BOUND:.0%}",
        value >= TARGET_DIRECT_VS_BOUND,
    )
    value = rate(results["augment"]) / rate(results["plain"])
    ratio(
        "augment / plain loop",
        value,
        f"{value:.1f}x",
        f">= {TARGET_AUGMENT_VS_PLAIN:g}x",
        value >= TARGET_AUGMENT_VS_PLAIN,
    )
    print()
    print(f"{'ratio':<28} {'value':>8}  {'target':<28} result")
    for row in ratios:
        print(f"{row['ratio']:<28} {row['shown']:>8}  {row['target']:<28} {row['result']}")
    print()
    print(
        f"llama.cpp prompt rate {prompt_rate:,.0f} tok/s (median of 3 x 512 tokens at depth 0; per repeat: "
        f"{', '.join(f'{x:,.0f}' for x in prompt_rates)}); direct reads {tokens_per_pair:.0f} uncached "
        "tokens per pair"
    )
    print(
        f"llama.cpp prompt rate after the {direct_prefix_tokens}-token prefix (llama-bench -p 512 -d "
        f"{direct_prefix_tokens}): {depth_rate:,.0f} tok/s, a bound of {depth_bound:.2f} pairs/s. Every "
        "uncached token of a row attends to the cached prefix, so this is the rate llama.cpp itself reaches "
        "on the same work"
    )
    with_prefix = direct["pairs"] * prompt_rate / (direct["uncached_tokens"] + direct_prefix_tokens)
    print(
        f"direct: the fixed prompt prefix ({direct_prefix_tokens} tokens, read once per run) counted too, "
        f"the bound is {with_prefix:.2f} pairs/s and direct reaches {rate(direct) / with_prefix:.0%} of it; "
        f"{direct['decode_seconds']:.1f} of its {direct['seconds']:.1f} s are spent inside llama_decode"
    )
    if "distilabel" in results and rate(results["distilabel"]):
        print(
            f"at the bound, direct / distilabel would be {bound / rate(results['distilabel']):.1f}x "
            f"(the most this model, machine and segment length allow)"
        )
    plain_run = results["plain"]
    disabled = all(r["calls_reading_whole_prompt"] == r["pairs"] for r in runs["plain"])
    print(
        f"plain loop: prefix caching disabled: {'yes' if disabled else 'NO'} "
        f"({plain_run['prompt_tokens_evaluated']:,} of {plain_run['prompt_tokens']:,} prompt tokens "
        f"evaluated, {plain_run['calls_reading_whole_prompt']}/{plain_run['pairs']} calls read the whole "
        f"prompt); completion tokens: plain {plain_run['completion_tokens']}, augment "
        f"{results['augment']['completion_tokens']}"
    )
    diagnosis = None
    if distilabel is not None:
        diagnosis = diagnose_distilabel(distilabel["rows"], max_new_tokens)
        print(
            f"distilabel {distilabel['distilabel_version']} "
            f"(llama-cpp-python {distilabel['llama_cpp_version']}), n_ctx {DISTILABEL_N_CTX}, chat format "
            f"{distilabel['chat_format']} (GGUF chat template: "
            f"{'yes' if distilabel['gguf_has_chat_template'] else 'none'}), "
            f"temperature {args.distilabel_temperature:g}: {diagnosis['outputs_with_score_line']} outputs "
            f"contain 'Score:', {diagnosis['outputs_with_digit_score']} 'Score: <digit>', "
            f"{diagnosis['outputs_echoing_the_rubric']} echo the rubric, "
            f"{diagnosis['outputs_at_token_limit']} hit the {max_new_tokens}-token limit "
            f"(mean {diagnosis['mean_output_tokens']:.0f} tokens)"
        )
        for example in diagnosis["example_outputs"]:
            print(f"  e.g. {example[:150]!r}")

    if args.out is not None:
        figures = {
            "pairs": len(pairs),
            "threads": args.threads,
            "parallel": args.parallel,
            "repeats": args.repeats,
            "model": str(model_path),
            "engine_load_seconds": engine_load_seconds,
            "plain_load_seconds": plain.load_seconds,
            "segments": [{"page": p.page, "header": p.header, "chars": len(p.text)} for p in pairs],
            "results": results,
            "runs": {
                k: [{f: x for f, x in run.items() if f != "rows"} for run in v] for k, v in runs.items()
            },
            "prompt_rate_tokens_per_s": prompt_rate,
            "prompt_rates": prompt_rates,
            "prompt_rate_at_depth_tokens_per_s": depth_rate,
            "prompt_rates_at_depth": depth_rates,
            "bound_at_depth_pairs_per_s": depth_bound,
            "uncached_tokens_per_pair_direct": tokens_per_pair,
            "bound_pairs_per_s": bound,
            "direct_prefix_tokens": direct_prefix_tokens,
            "bound_with_prefix_pairs_per_s": with_prefix,
            "ratios": ratios,
            "plain_prefix_caching_disabled": disabled,
        }
        if distilabel is not None:
            figures["distilabel"] = {
                "version": distilabel["distilabel_version"],
                "llama_cpp_version": distilabel["llama_cpp_version"],
                "load_seconds": distilabel["load_seconds"],
                "max_new_tokens": max_new_tokens,
                "temperature": args.distilabel_temperature,
                "n_ctx": DISTILABEL_N_CTX,
                "chat_format": distilabel["chat_format"],
                "gguf_has_chat_template": distilabel["gguf_has_chat_template"],
                "diagnosis": diagnosis,
                "rows": distilabel["rows"],
            }
        args.out.write_text(json.dumps(figures, indent=2, default=str))
        print(f"figures written to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
