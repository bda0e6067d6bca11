"""Benchmark: the served model against the in-process one, on the same pairs, model and 2 threads.

Approaches, each scoring and augmenting the same pairs:

* in-process: `LocalEngine` (`--parallel` rows decoded together, 8 as the CLI's default);
* upstream `llama-server --parallel 1, 2, 4` (`make llama-server` builds it), the client keeping as many
  requests in flight as the server reports slots;
* `llama_cpp.server` as `make serve SERVER_IMPL=python` starts it (its default `--logits_all true`:
  without it, it refuses every request that asks for log-probabilities, direct scoring's included).

Stages: direct scoring (`curate --mode direct`: one token's alternatives per pair) and augmentation
(one draw per segment, T=0.7, top-p 0.9, per-row seeds: ranking several draws reads prompt-token
log-probabilities, which llama-server does not return). Each run is on a fresh copy of a scratch
warehouse and is timed by its stage report (the batches; the model load and server start excluded).
The segments are the first `--pairs` kept segments of this project's ETL over the readability test
pages (`../shared/data`), as in curate_vs_distilabel.py, each with "Explain: <header>".

Also printed: how far each server's direct expected scores are from in-process ones, and how many prompt
tokens a row made the server read (its own `timings.prompt_n`) against the whole prompt.

Targets: llama-server at its best slot count at least 2x llama_cpp.server on both stages, and within
1.3x of in-process. Approaches alternate within each repeat; medians.

    .venv/bin/python -m benchmarks.served_vs_in_process                 # 24 pairs, 3 repeats
    .venv/bin/python -m benchmarks.served_vs_in_process --pairs 8 --repeats 1
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from curate_vs_distilabel import etl_pairs, write_augmentations, write_segments

from benchmarks.harness import median, print_ratio, wait_for_quiet

TARGET_VS_PYTHON_SERVER = 2.0
TARGET_VS_IN_PROCESS = 1.3
STAGES = ("direct", "augment")


@contextmanager
def approach(name: str, args: argparse.Namespace, logs: Path) -> Iterator[object]:
    """The engine of one approach, with its server started and stopped around it."""
    from inference.engines import open_engine
    from inference.models import embedded_model_path
    from inference.serving.launch import ServerSettings, free_port, serving

    if name == "in-process":
        engine = open_engine(parallel=args.parallel, threads=args.threads)
        try:
            yield engine
        finally:
            engine.close()
        return
    if name.startswith("llama-server"):
        settings = ServerSettings(
            embedded_model_path(),
            port=free_port(),
            parallel=int(name.rsplit(" ", 1)[1]),
            threads=args.threads,
        )
    else:
        model = embedded_model_path()
        settings = ServerSettings(model, impl="python", port=free_port(), threads=args.threads)
    with serving(settings, logs / f"{name.replace(' ', '-')}.log"):
        engine = open_engine(server=settings.url, parallel=args.parallel)
        try:
            yield engine
        finally:
            engine.close()


def run_stage(stage: str, engine: object, root: Path) -> dict[str, object]:
    from inference.augment import augment
    from inference.curate import curate
    from inference.instructions import Drawing
    from warehouse.connect import connect, query
    from warehouse.store import Warehouse

    warehouse = Warehouse(root)
    if stage == "direct":
        report = curate(warehouse, engine, mode="direct", show_progress=False)
        table = "scores"
    else:
        report = augment(warehouse, engine, drawing=Drawing(), show_progress=False)
        table = "augmentations"
    con = connect(root)
    rows = query(
        con,
        f"SELECT segment_id, prompt_tokens, uncached_tokens, "
        f"{'expected_score' if stage == 'direct' else 'NULL AS expected_score'} "
        f"FROM {table} WHERE batch_id <> 'benchmark'",
    )
    con.close()
    return {
        "seconds": report.seconds,
        "pairs": report.computed,
        "ok": report.statuses.get("ok", 0),
        "prompt_tokens": int(rows["prompt_tokens"].sum()),
        "uncached_tokens": int(rows["uncached_tokens"].sum()),
        "expected": dict(zip(rows["segment_id"], rows["expected_score"], strict=True)),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pairs", type=int, default=24)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--parallel", type=int, default=8, help="in-process rows decoded together")
    parser.add_argument("--slots", default="1,2,4", help="llama-server --parallel values")
    parser.add_argument("--no-python-server", action="store_true", help="skip llama_cpp.server")
    parser.add_argument("--quiet-load", type=float, default=0.3, help="wait for other load below this")
    parser.add_argument("--out", type=Path, help="also write the figures as JSON")
    args = parser.parse_args(argv)

    from etl.seeds.table import add_seeds
    from inference.serving.launch import llama_server_binary
    from warehouse.store import Warehouse

    binary = llama_server_binary()
    if not binary.is_file():
        raise SystemExit(f"{binary} is missing: `make llama-server` builds it")
    names = ["in-process", *(f"llama-server --parallel {n}" for n in args.slots.split(","))]
    if not args.no_python_server:
        names.append("llama_cpp.server")

    scratch = Path(tempfile.mkdtemp(prefix="served-bench-"))
    try:
        pairs = etl_pairs(args.pairs, scratch)
        template = scratch / "template"
        write_segments(template, pairs)
        write_augmentations(template, pairs)
        add_seeds(Warehouse(template))
        runs: dict[tuple[str, str], list[dict[str, object]]] = {(n, s): [] for n in names for s in STAGES}
        for repeat in range(args.repeats):
            for name in names:
                wait_for_quiet(args.quiet_load, announce=True)
                with approach(name, args, scratch) as engine:
                    for stage in STAGES:
                        root = scratch / "run"
                        shutil.rmtree(root, ignore_errors=True)
                        shutil.copytree(template, root)
                        result = run_stage(stage, engine, root)
                        runs[name, stage].append(result)
                        print(
                            f"  repeat {repeat + 1} {name:32s} {stage:8s} {result['seconds']:7.1f} s "
                            f"{result['pairs'] / result['seconds']:.2f} pairs/s",
                            flush=True,
                        )
        report(runs, names, args)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return 0


def report(runs: dict[tuple[str, str], list[dict]], names: list[str], args: argparse.Namespace) -> None:
    def rate(name: str, stage: str) -> float:
        return median([r["pairs"] / r["seconds"] for r in runs[name, stage]])

    reference = runs["in-process", "direct"][-1]["expected"]
    print(f"\n{args.pairs} pairs, {args.threads} threads, medians of {args.repeats}:\n")
    print(
        "| approach | direct pairs/s | augment pairs/s | direct ok | augment ok | max direct diff "
        "| read/prompt tokens |"
    )
    print("|---|---|---|---|---|---|---|")
    figures: dict[str, dict[str, object]] = {}
    for name in names:
        direct, augmented = runs[name, "direct"][-1], runs[name, "augment"][-1]
        got = direct["expected"]
        diff = max(abs(got[k] - v) for k, v in reference.items() if got.get(k) is not None and v is not None)
        read = sum(r["uncached_tokens"] for r in (direct, augmented)) / max(
            1, sum(r["prompt_tokens"] for r in (direct, augmented))
        )
        figures[name] = {
            "direct_pairs_per_s": rate(name, "direct"),
            "augment_pairs_per_s": rate(name, "augment"),
            "max_direct_diff": diff,
            "read_share": read,
            "runs": {s: [r["seconds"] for r in runs[name, s]] for s in STAGES},
        }
        print(
            f"| {name} | {rate(name, 'direct'):.2f} | {rate(name, 'augment'):.2f} "
            f"| {direct['ok']}/{direct['pairs']} | {augmented['ok']}/{augmented['pairs']} "
            f"| {diff:.3f} | {read:.2f} |"
        )
    print()
    servers = [n for n in names if n.startswith("llama-server")]
    pythons = [n for n in names if n.startswith("llama_cpp.server")]
    for stage in STAGES:
        best = max(servers, key=lambda n: rate(n, stage))
        print(f"{stage}: llama-server's best is {best}")
        if pythons:
            python = max(pythons, key=lambda n: rate(n, stage))
            print_ratio(
                f"  {best} / {python}",
                rate(best, stage) / rate(python, stage),
                f">= {TARGET_VS_PYTHON_SERVER}",
            )
        print_ratio(
            f"  in-process / {best}",
            rate("in-process", stage) / rate(best, stage),
            f"<= {TARGET_VS_IN_PROCESS}",
        )
    from inference.serving.launch import llama_server_binary

    stamp = llama_server_binary().with_name("llama-server.build.json")
    if stamp.is_file():
        print(
            f"\nllama-server build: {json.loads(stamp.read_text()).get('seconds')} s (target: at most 480 s)"
        )
    if args.out:
        args.out.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    raise SystemExit(main())
