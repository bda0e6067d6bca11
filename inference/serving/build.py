"""Build upstream `llama-server` as one more target of the installed llama-cpp-python's own CMake tree.

`make install` builds llama-cpp-python from its pinned source package (PyPI's, checked against the
sha256 in constraints.txt), unpacked under `.venv/src`, and keeps the CMake build tree there. That
tree has compiled llama.cpp (ggml, llama, common, httplib) for the in-process library, with the
Makefile's flags; here CMake switches on llama.cpp's server tool in the same tree and compiles only
what the library did not (the server's own sources and its multimodal library), so both paths run the
same llama.cpp code, compiled once. The server links to the tree's shared libraries, the very files
the wheel installed. Never a prebuilt binary; nothing is downloaded here.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from importlib.metadata import version
from pathlib import Path
from typing import IO

from inference.serving.launch import log_tail

PACKAGE = "llama-cpp-python"
# The server tool, without web UI assets (the prebuilt UI would be fetched from a hub at build time).
# Every other option stays as the library was built (a changed one would recompile what it touches).
# llama-cpp-python adds llama.cpp's multimodal library itself unless LLAVA_BUILD is off (the Makefile
# builds it off); with the tools on, llama.cpp adds it for the server, and twice is an error.
SERVER_OPTIONS = (
    "-DLLAMA_BUILD_TOOLS=ON",
    "-DLLAMA_BUILD_SERVER=ON",
    "-DLLAMA_BUILD_UI=OFF",
    "-DLLAMA_USE_PREBUILT_UI=OFF",
    "-DLLAVA_BUILD=OFF",
)
COMPILE = re.compile(r"Building (?:C|CXX) object")  # one per file compiled, in both generators' output
PERCENT = re.compile(r"^\[\s*(\d+)%\]")  # the Unix Makefiles generator's progress


class BuildError(RuntimeError):
    pass


def build_llama_server(out: Path, tree: Path, cmake_args: str = "", jobs: int | None = None) -> Path:
    """Compile `llama-server` in `tree` (the llama-cpp-python build tree `make install` keeps) and
    install it at `out`. `cmake_args`: the flags the tree was configured with (the Makefile's
    LLAMA_CMAKE_ARGS), part of the recipe. Nothing to do when `out` was built from the same version
    with the same arguments (a stamp beside it)."""
    out, tree = out.resolve(), tree.resolve()
    package_version = version(PACKAGE)
    recipe = {"llama-cpp-python": package_version, "cmake": [*SERVER_OPTIONS, *shlex.split(cmake_args)]}
    stamp = out.with_name(f"{out.name}.build.json")
    if out.is_file() and stamp.is_file() and json.loads(stamp.read_text()).get("recipe") == recipe:
        return out  # built from this version with these flags already
    cache = tree / "CMakeCache.txt"
    if not cache.is_file():
        raise BuildError(f"no llama-cpp-python build tree at {tree}: `make install` keeps one there")
    source = _cached(cache, "CMAKE_HOME_DIRECTORY")
    if f"{PACKAGE.replace('-', '_')}-{package_version}" not in Path(source).name:
        raise BuildError(f"the tree at {tree} was built from {source}, not {PACKAGE} {package_version}")
    jobs = jobs or os.cpu_count() or 1
    started = time.monotonic()
    print(f"building llama-server in the llama-cpp-python {package_version} build tree, CPU, {jobs} jobs")
    log = out.parent.parent / "llama-server-build.log"
    build = ["cmake", "--build", str(tree), "--target", "llama-server"]
    with log.open("w") as handle:
        for command, planned in (
            (["cmake", "-S", source, "-B", str(tree), *SERVER_OPTIONS, *shlex.split(cmake_args)], 0),
            ([*build, "-j", str(jobs)], -1),
        ):
            handle.write(f"$ {shlex.join(command)}\n")
            handle.flush()
            if planned < 0:  # the files to compile, from a dry run: the tree's other files are done
                dry = subprocess.run([*build, "--", "-n"], capture_output=True, text=True)
                planned = len(COMPILE.findall(dry.stdout))
            if _run_logged(command, handle, planned) != 0:
                raise BuildError(f"{command[0]} failed; the last lines of {log}:\n{log_tail(log)}")
    binary = tree / "bin" / "llama-server"
    out.parent.mkdir(parents=True, exist_ok=True)
    staged = out.with_name(f".{out.name}.new")
    shutil.copy2(binary, staged)
    staged.replace(out)  # atomic: an interrupted build never leaves a half-written binary
    seconds = time.monotonic() - started
    stamp.write_text(json.dumps({"recipe": recipe, "tree": str(tree), "seconds": round(seconds, 1)}))
    print(f"llama-server (llama-cpp-python {package_version}) built in {seconds:.0f} s: {out}")
    return out


def _cached(cache: Path, name: str) -> str:
    """A variable's value in a CMakeCache.txt."""
    found = re.search(rf"^{name}:[A-Z]+=(.*)$", cache.read_text(), re.MULTILINE)
    if not found:
        raise BuildError(f"{cache} has no {name}")
    return found.group(1)


def _run_logged(command: list[str], log: IO[str], planned: int) -> int:
    """Run `command` with its output in `log`; when it compiles, show the files done, the percentage
    make reports for the target, the rate and an estimate of the time left, on one line."""
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert process.stdout is not None
    started, done, first_percent, percent = time.monotonic(), 0, None, None
    for line in process.stdout:
        log.write(line)
        reported = PERCENT.match(line)
        if reported:  # make's own progress over the target's steps, the built ones included
            percent = int(reported.group(1))
            first_percent = percent if first_percent is None else first_percent
        if planned and COMPILE.search(line):
            done += 1
            elapsed = time.monotonic() - started
            if percent is not None and first_percent is not None and percent > first_percent:
                share = (percent - first_percent) / max(100 - first_percent, 1)
                progress = f"{percent}%, {done} files"
                left = f"about {elapsed / share * (1 - share) / 60:.0f} min left"
            else:  # a generator without percentages: the dry run's count, which misses a few files
                progress = f"{done}/{planned} files"
                left = f"about {elapsed / done * max(planned - done, 0) / 60:.0f} min left"
            print(
                f"\r  {progress}, {elapsed / 60:.1f} min, {done / elapsed * 60:.0f} files/min, {left}   ",
                end="",
                flush=True,
            )
    if done:
        print()
    return process.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, required=True, help="where to install the binary")
    parser.add_argument("--tree", type=Path, required=True, help="the llama-cpp-python build tree")
    parser.add_argument("--jobs", type=int, default=None)
    args = parser.parse_args(argv)
    if shutil.which("cmake") is None:
        print("error: building llama-server needs CMake: apt install cmake", file=sys.stderr)
        return 1
    try:
        build_llama_server(args.out, args.tree, os.environ.get("CMAKE_ARGS", ""), args.jobs)
    except (BuildError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
