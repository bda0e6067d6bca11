"""Start a llama.cpp server for a GGUF file, wait until it answers, and stop it cleanly.

Two implementations: upstream `llama-server` (continuous batching over `--parallel` slots, a prompt
cache; built by `inference.serving.build`) and `python -m llama_cpp.server` (one request at a time, but
prompt-token log-probabilities). Both bind loopback unless the caller asks otherwise: a llama.cpp
server has no authentication by default, so binding a public address serves the model to the network.
"""

from __future__ import annotations

import ipaddress
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import httpx

IMPLEMENTATIONS = ("llama-server", "python")


class ServeError(RuntimeError):
    pass


def llama_server_binary() -> Path:
    """Where `make serve` installs upstream llama-server: the environment's own bin folder."""
    return Path(sys.prefix) / "bin" / "llama-server"


@dataclass(frozen=True)
class ServerSettings:
    model: Path
    impl: str = "llama-server"
    host: str = "127.0.0.1"
    port: int = 8080
    parallel: int = 4  # llama-server's slots: requests decoded together
    threads: int | None = None
    ctx_per_slot: int = 4096
    allow_remote: bool = False
    binary: Path | None = None  # llama-server's path; default llama_server_binary()
    extra: tuple[str, ...] = ()  # more of the server's own options

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def command(self) -> list[str]:
        if self.impl == "llama-server":
            binary = self.binary or llama_server_binary()
            if not binary.is_file():
                raise ServeError(
                    f"{binary} is not built yet: `make serve` (or `make llama-server`) builds it"
                )
            threads = (
                ["--threads", str(self.threads), "--threads-batch", str(self.threads)] if self.threads else []
            )
            return [
                str(binary),
                "--model", str(self.model),
                "--host", self.host,
                "--port", str(self.port),
                "--parallel", str(self.parallel),
                "--ctx-size", str(self.ctx_per_slot * self.parallel),  # shared by the slots
                "--metrics",
                # keep whole sliding-window layers (Gemma 3): otherwise no cached prompt is ever reused
                "--swa-full",
                *threads,
                *self.extra,
            ]  # fmt: skip
        if self.impl == "python":
            threads = (
                ["--n_threads", str(self.threads), "--n_threads_batch", str(self.threads)]
                if self.threads
                else []
            )
            return [
                sys.executable, "-m", "llama_cpp.server",
                "--model", str(self.model),
                "--host", self.host,
                "--port", str(self.port),
                "--n_ctx", str(self.ctx_per_slot),
                *threads,
                *self.extra,
            ]  # fmt: skip
        raise ValueError(f"unknown server implementation {self.impl!r}: choose one of {IMPLEMENTATIONS}")


def check_host(host: str, allow_remote: bool) -> None:
    """Refuse any address that is not loopback unless `allow_remote`."""
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(host, None)}
    except socket.gaierror as exc:
        raise ServeError(f"cannot resolve the host {host!r}: {exc}") from exc
    remote = sorted(a for a in addresses if not ipaddress.ip_address(a.split("%")[0]).is_loopback)
    if remote and not allow_remote:
        raise ServeError(
            f"refusing to serve on {host} ({', '.join(remote)}): that is not loopback, and a llama.cpp "
            "server answers anyone who reaches it, without authentication. Ask for it explicitly with "
            "--allow-remote (make serve HOST=... ALLOW_REMOTE=1), behind a firewall."
        )


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


@dataclass
class RunningServer:
    settings: ServerSettings
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def url(self) -> str:
        return self.settings.url

    def stop(self, timeout_s: float = 30.0) -> int:
        """SIGTERM, then SIGKILL if it has not exited within `timeout_s`; the exit code."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


def start(settings: ServerSettings, log_path: Path, timeout_s: float = 180.0) -> RunningServer:
    """Start the server, its output in `log_path` (a file, not a pipe: a full pipe would block it), and
    return once it answers; a server that exits or stays silent is an error with its log's tail."""
    check_host(settings.host, settings.allow_remote)
    command = settings.command()
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log: IO[bytes] = log_path.open("wb")
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    log.close()  # the child holds its own descriptor
    server = RunningServer(settings, process, log_path)
    probe = "/health" if settings.impl == "llama-server" else "/v1/models"  # 503 while llama-server loads
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ServeError(f"{command[0]} exited with {process.returncode}:\n{log_tail(log_path)}")
        try:
            if httpx.get(settings.url + probe, timeout=2).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    server.stop()
    raise ServeError(f"{settings.url} did not answer within {timeout_s:.0f} s:\n{log_tail(log_path)}")


@contextmanager
def serving(settings: ServerSettings, log_path: Path, timeout_s: float = 180.0) -> Iterator[RunningServer]:
    server = start(settings, log_path, timeout_s)
    try:
        yield server
    finally:
        server.stop()


def log_tail(path: Path, lines: int = 25) -> str:
    """The last lines of a log, for an error message."""
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
