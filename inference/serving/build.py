"""Build upstream `llama-server` from the llama.cpp sources inside the pinned llama-cpp-python sdist.

The sdist comes from the package registry (PyPI's simple index, checked against the sha256 it lists),
never a prebuilt binary; CMake compiles the CPU build for this machine with the same flags as the
in-process library (the Makefile's LLAMA_CMAKE_ARGS), so both paths run the same llama.cpp code.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from importlib.metadata import version
from pathlib import Path
from typing import IO

import httpx

from inference.serving.launch import log_tail

PACKAGE = "llama-cpp-python"
SIMPLE_INDEX = "https://pypi.org/simple/{package}/"  # PEP 691's JSON form of the index pip reads
# What llama-server needs and nothing else: no tests, examples or web UI assets (the prebuilt UI would
# be fetched from a hub at build time), no OpenSSL (it serves plain HTTP on loopback).
CMAKE_OPTIONS = (
    "-DCMAKE_BUILD_TYPE=Release",
    "-DBUILD_SHARED_LIBS=OFF",
    "-DGGML_NATIVE=ON",
    "-DLLAMA_BUILD_SERVER=ON",
    "-DLLAMA_BUILD_TOOLS=ON",
    "-DLLAMA_BUILD_TESTS=OFF",
    "-DLLAMA_BUILD_EXAMPLES=OFF",
    "-DLLAMA_BUILD_APP=OFF",
    "-DLLAMA_BUILD_UI=OFF",
    "-DLLAMA_USE_PREBUILT_UI=OFF",
    "-DLLAMA_OPENSSL=OFF",
)


# CMake's Makefiles print "[ 42%] Building ...", Ninja "[84/200] Building ..."
PROGRESS = re.compile(r"^\[\s*(?:(\d+)%|(\d+)/(\d+))\]")


class BuildError(RuntimeError):
    pass


def fetch_sdist(package_version: str, folder: Path) -> Path:
    """The llama-cpp-python source package of this version, downloaded once into `folder`."""
    filename = f"{PACKAGE.replace('-', '_')}-{package_version}.tar.gz"
    with httpx.Client(timeout=60, follow_redirects=True) as client:
        index = client.get(
            SIMPLE_INDEX.format(package=PACKAGE), headers={"Accept": "application/vnd.pypi.simple.v1+json"}
        )
        index.raise_for_status()
        entry = next((f for f in index.json()["files"] if f["filename"] == filename), None)
        if entry is None:
            raise BuildError(f"PyPI lists no source package {filename}")
        sha256 = entry["hashes"]["sha256"]
        target = folder / filename
        if target.is_file() and _sha256(target) == sha256:
            return target
        folder.mkdir(parents=True, exist_ok=True)
        partial = target.with_suffix(".part")
        with client.stream("GET", entry["url"]) as response, partial.open("wb") as out:
            response.raise_for_status()
            for block in response.iter_bytes(1 << 20):
                out.write(block)
    if _sha256(partial) != sha256:
        partial.unlink()
        raise BuildError(f"{filename} does not match the sha256 PyPI lists for it")
    partial.replace(target)
    return target


def build_llama_server(out: Path, cmake_args: str = "", jobs: int | None = None) -> Path:
    """Compile `llama-server` from the installed llama-cpp-python version's sdist and install it at
    `out`. `cmake_args`: extra CMake arguments, shell-quoted (the Makefile's LLAMA_CMAKE_ARGS). Nothing
    to do when `out` was built from the same version with the same arguments (a stamp beside it)."""
    out = out.resolve()
    package_version = version(PACKAGE)
    recipe = {"llama-cpp-python": package_version, "cmake": [*CMAKE_OPTIONS, *shlex.split(cmake_args)]}
    stamp = out.with_name(f"{out.name}.build.json")
    if out.is_file() and stamp.is_file() and json.loads(stamp.read_text()).get("recipe") == recipe:
        return out  # built from this version with these flags already
    if shutil.which("cmake") is None:
        raise BuildError("building llama-server needs CMake: apt install cmake, or pip install cmake")
    cache = out.parent.parent / "src"
    started = time.monotonic()
    sdist = fetch_sdist(package_version, cache)
    print(
        f"building llama-server from {sdist.name} (llama.cpp inside it), CPU, {jobs or os.cpu_count()} jobs"
    )
    with tempfile.TemporaryDirectory(prefix="llama-server-build-", dir=cache) as scratch:
        work = Path(scratch)
        with tarfile.open(sdist) as archive:
            members = [m for m in archive.getmembers() if "/vendor/llama.cpp/" in f"{m.name}/"]
            archive.extractall(work, members=members, filter="data")
        source = next(work.glob("*/vendor/llama.cpp"))
        build = work / "build"
        log = out.parent.parent / "llama-server-build.log"
        with log.open("w") as handle:
            for command in (
                [
                    *("cmake", "-S", str(source), "-B", str(build), *CMAKE_OPTIONS, *shlex.split(cmake_args)),
                    # Ninja compiles a target's files while the targets it links to are still linking
                    *(("-G", "Ninja") if shutil.which("ninja") else ()),
                ],
                [
                    "cmake",
                    "--build",
                    str(build),
                    "--target",
                    "llama-server",
                    "-j",
                    str(jobs or os.cpu_count()),
                ],
            ):
                handle.write(f"$ {shlex.join(command)}\n")
                handle.flush()
                if _run_logged(command, handle, started) != 0:
                    raise BuildError(f"{command[0]} failed; the last lines of {log}:\n{log_tail(log)}")
        binary = build / "bin" / "llama-server"
        out.parent.mkdir(parents=True, exist_ok=True)
        staged = out.with_name(f".{out.name}.new")
        shutil.copy2(binary, staged)
        staged.replace(out)  # atomic: an interrupted build never leaves a half-written binary
        seconds = time.monotonic() - started
        stamp.write_text(json.dumps({"recipe": recipe, "seconds": round(seconds, 1)}))
    print(f"llama-server (llama-cpp-python {package_version}) built in {seconds:.0f} s: {out}")
    return out


def _run_logged(command: list[str], log: IO[str], started: float) -> int:
    """Run `command` with its output in `log`, showing the build's progress as one line with the elapsed
    time and an estimate of what is left."""
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert process.stdout is not None
    shown = -1
    for line in process.stdout:
        log.write(line)
        found = PROGRESS.match(line)
        percent = -1
        if found:
            percent = int(found[1]) if found[1] else 100 * int(found[2]) // max(1, int(found[3]))
        if percent > shown:
            shown = percent
            elapsed = time.monotonic() - started
            left = f", about {elapsed * (100 - shown) / shown / 60:.0f} min left" if shown >= 5 else ""
            print(f"\r  [{shown:3d}%] {elapsed / 60:.1f} min{left}   ", end="", flush=True)
    if shown >= 0:
        print()
    return process.wait()


def _sha256(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, required=True, help="where to install the binary")
    parser.add_argument("--jobs", type=int, default=None)
    args = parser.parse_args(argv)
    try:
        build_llama_server(args.out, os.environ.get("CMAKE_ARGS", ""), args.jobs)
    except (BuildError, httpx.HTTPError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
