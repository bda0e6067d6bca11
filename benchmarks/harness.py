"""What every benchmark shares: the repository on the import path, the shared data folder, timing the
competing approaches in alternation, medians and ratios, and the wait for a quiet machine.

A benchmark runs from the repository's folder as a module of this package, `python -m
benchmarks.<name>`, and imports what it shares from here: `from benchmarks.harness import ...`.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # the repository's packages, whatever the working folder
    sys.path.insert(0, str(ROOT))
SHARED_DATA = ROOT.parent / "shared" / "data"
# `make etl`'s default pipeline as the benchmarks replay it: the Makefile's SEEDS and BACKWARD_STEPS
# (tests/test_makefile.py checks that they agree)
MAKE_ETL_SEEDS = (ROOT / "etl" / "seeds" / "embedded_seeds.jsonl", ROOT / "etl" / "seeds" / "web_seeds.jsonl")
MAKE_ETL_BACKWARD_STEPS = 26

T = TypeVar("T")


def shared_path(*parts: str) -> Path:
    """A file or folder of ../shared/data; exits with a clear message when it is not there."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        sys.exit(f"{path} is missing: this benchmark reads ../shared/data beside the repository")
    return path


def timed(run: Callable[[], T]) -> tuple[float, T]:
    started = time.perf_counter()
    result = run()
    return time.perf_counter() - started, result


def alternate(
    approaches: dict[str, Callable[[], T]], repeats: int, same_result: bool = False
) -> tuple[dict[str, list[float]], dict[str, T]]:
    """Run each approach `repeats` times, in turn (a noisy machine slows them alike), and return the
    seconds of every run and each approach's last result. `same_result`: exit when an approach returns
    something else on a repeat."""
    seconds: dict[str, list[float]] = {name: [] for name in approaches}
    results: dict[str, T] = {}
    for _ in range(repeats):
        for name, run in approaches.items():
            elapsed, result = timed(run)
            seconds[name].append(elapsed)
            if same_result and name in results and results[name] != result:
                sys.exit(f"{name} gave another result on a repeat")
            results[name] = result
    return seconds, results


def median(values: list[float]) -> float:
    return statistics.median(values)


def print_timings(seconds: dict[str, list[float]], unit: str = "s", scale: float = 1.0) -> None:
    """One line per approach: its median and every run (values multiplied by `scale`, shown in `unit`)."""
    width = max(len(name) for name in seconds)
    for name, values in seconds.items():
        runs = ", ".join(f"{v * scale:.3f}" for v in values)
        print(f"  {name:{width}s} median {median(values) * scale:9.3f} {unit}  (runs: {runs})")


def ratio(numerator: list[float] | float, denominator: list[float] | float) -> float:
    """The ratio of two medians (or plain figures)."""
    top = median(numerator) if isinstance(numerator, list) else numerator
    bottom = median(denominator) if isinstance(denominator, list) else denominator
    return top / bottom if bottom else float("inf")


def print_ratio(label: str, value: float, target: str = "") -> None:
    print(f"{label}: {value:.2f}x" + (f" (target {target})" if target else ""))


# Other processes' CPU use: the machine may be shared, and a disturbed run is retried -----------------


def machine_busy_seconds() -> float:
    """Busy CPU time of the whole machine, all cores, from /proc/stat (0.0 where there is none)."""
    try:
        with open("/proc/stat") as fh:
            fields = [int(x) for x in fh.readline().split()[1:9]]
    except (OSError, ValueError):
        return 0.0
    idle, iowait = fields[3], fields[4] if len(fields) > 4 else 0
    return (sum(fields) - idle - iowait) / os.sysconf("SC_CLK_TCK")


def own_cpu_seconds(children: bool = True) -> float:
    """CPU time of this process, and of its finished children unless `children` is false."""
    t = os.times()
    return t.user + t.system + ((t.children_user + t.children_system) if children else 0.0)


class LoadMeter:
    """CPU cores that other processes used on average since it was made."""

    def __init__(self) -> None:
        self.wall = time.perf_counter()
        self.busy = machine_busy_seconds()
        self.own = own_cpu_seconds()

    def other_load(self) -> float:
        wall = time.perf_counter() - self.wall
        other = (machine_busy_seconds() - self.busy) - (own_cpu_seconds() - self.own)
        return max(0.0, other / wall) if wall > 0 else 0.0


def wait_for_quiet(max_load: float, max_wait_s: float = 90.0, announce: bool = False) -> float:
    """Wait (up to `max_wait_s`) until other processes use less than `max_load` cores over 2 s; return
    the load last seen. `announce`: say so once when it has to wait."""
    deadline = time.monotonic() + max_wait_s
    told = False
    while True:
        meter = LoadMeter()
        time.sleep(2.0)
        load = meter.other_load()
        if load < max_load or time.monotonic() >= deadline:
            return load
        if announce and not told:
            print(f"  waiting for a quiet machine (other load {load:.2f} cores) ...", flush=True)
            told = True


def in_child(module: str, *args: str) -> dict:
    """Run `python -m <module> <args>` from the repository (a process of its own, so its peak memory is
    its own) and return the JSON object its last line of output prints; exit with its error if it fails."""
    import json
    import subprocess

    done = subprocess.run([sys.executable, "-m", module, *args], capture_output=True, text=True, cwd=ROOT)
    if done.returncode != 0:
        sys.exit(f"{module} {' '.join(args)} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])
