"""Write a fine-tuned model as a GGUF file llama.cpp loads: merged weights, with the base GGUF's
metadata and vocabulary.

The base GGUF's key-value fields (architecture settings, tokenizer, chat template) are copied as they
are, so llama.cpp tokenizes and runs the new file exactly like the base; only the tensors are new. A
tensor's GGUF name comes from gguf-py's own name map for the architecture, and the per-architecture
transforms that transformers undid when it loaded the GGUF are done again (Gemma stores RMSNorm weights
as 1 + w). Fields under `humpback.` say what the file is, for anyone who finds it without its warehouse.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import gguf
import numpy as np

GGUF_TYPES = {
    "f32": (gguf.GGMLQuantizationType.F32, gguf.LlamaFileType.ALL_F32),
    "f16": (gguf.GGMLQuantizationType.F16, gguf.LlamaFileType.MOSTLY_F16),
    "q8_0": (gguf.GGMLQuantizationType.Q8_0, gguf.LlamaFileType.MOSTLY_Q8_0),
}


def _gemma_norm(name: str, data: np.ndarray) -> np.ndarray:
    return data + 1.0 if name.endswith("norm.weight") else data


# What transformers' GGUF loader changed per architecture, to be done again on the way out. An
# architecture whose loader changes tensors in ways not listed here (Llama permutes q and k) is refused.
TRANSFORMS: dict[str, Callable[[str, np.ndarray], np.ndarray]] = {
    "gemma2": _gemma_norm,
    "gemma3": _gemma_norm,
}
_SKIPPED_FIELDS = ("GGUF.", "general.architecture", "general.file_type", "general.name", "humpback.")


def read_gguf(path: Path) -> gguf.GGUFReader:
    """The file's fields and tensors, parsed once per process and file version: gguf-py parses every
    field when it opens a file, Gemma 3's 262,144-token vocabulary among them (about 20 s here), and a
    loop checks and exports every model it trains from the same base."""
    stat = path.stat()
    return _read_gguf(str(path.resolve()), stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=2)
def _read_gguf(path: str, size: int, mtime_ns: int) -> gguf.GGUFReader:
    return gguf.GGUFReader(path)  # read-only memory map of the file


def _copy_fields(reader: gguf.GGUFReader, writer: gguf.GGUFWriter) -> None:
    for name, field in reader.fields.items():
        if name.startswith(_SKIPPED_FIELDS):
            continue
        value_type = field.types[0]
        if value_type == gguf.GGUFValueType.ARRAY:
            writer.add_key_value(name, field.contents(), value_type, sub_type=field.types[-1])
        else:
            writer.add_key_value(name, field.contents(), value_type)


def _gguf_tensors(
    state: dict[str, np.ndarray], arch: str, n_blocks: int, tied: bool
) -> Iterator[tuple[str, np.ndarray]]:
    arch_enum = next(a for a, n in gguf.MODEL_ARCH_NAMES.items() if n == arch)
    names = gguf.get_tensor_name_map(arch_enum, n_blocks)
    transform = TRANSFORMS[arch]
    for hf_name, data in state.items():
        if tied and hf_name == "lm_head.weight":
            continue  # tied to the token embeddings: llama.cpp reuses token_embd
        stem, _, suffix = hf_name.rpartition(".")
        mapped = names.get_name(stem)
        if mapped is None:
            raise ValueError(f"no GGUF name for tensor {hf_name} of architecture {arch}")
        name = f"{mapped}.{suffix}"
        yield name, transform(name, data.astype(np.float32))


def check_exportable(base_gguf: Path | None, reader: gguf.GGUFReader | None = None) -> str:
    """The base's architecture, or an error saying why a model trained from it cannot be exported;
    called before training too, so that an unexportable base fails in seconds, not after hours."""
    if base_gguf is None:
        raise ValueError(
            "GGUF export needs the base model's GGUF file for its metadata and vocabulary; "
            "train from a GGUF base (the default), or convert with llama.cpp's convert_hf_to_gguf.py"
        )
    reader = reader or read_gguf(base_gguf)
    arch = reader.fields["general.architecture"].contents()
    if arch not in TRANSFORMS:
        raise ValueError(
            f"exporting architecture {arch!r} is not supported yet (supported: {', '.join(TRANSFORMS)}); "
            "train on a base of a supported architecture, or convert with llama.cpp's convert_hf_to_gguf.py"
        )
    return arch


def export_gguf(
    state: dict[str, np.ndarray],
    base_gguf: Path,
    out: Path,
    *,
    gguf_type: str = "f16",
    tied_embeddings: bool = True,
    metadata: dict[str, str | int] | None = None,
) -> Path:
    """Write `state` (merged transformers weights as float32 arrays) to `out`, atomically."""
    if gguf_type not in GGUF_TYPES:
        raise ValueError(f"unknown GGUF type {gguf_type!r}; choose one of {', '.join(GGUF_TYPES)}")
    reader = read_gguf(base_gguf)
    arch = check_exportable(base_gguf, reader)
    n_blocks = int(reader.fields[f"{arch}.block_count"].contents())
    qtype, file_type = GGUF_TYPES[gguf_type]
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    writer = gguf.GGUFWriter(tmp, arch)
    try:
        _copy_fields(reader, writer)
        writer.add_file_type(file_type)
        for key, value in (metadata or {}).items():
            if isinstance(value, int):
                writer.add_int32(f"humpback.{key}", value)  # signed: an experiment's iteration is -1
            else:
                writer.add_string(f"humpback.{key}", str(value))
        for name, data in _gguf_tensors(state, arch, n_blocks, tied_embeddings):
            matrix = data.ndim == 2 and data.shape[-1] % 32 == 0  # norms and odd shapes stay float32
            tensor_type = qtype if matrix else gguf.GGMLQuantizationType.F32
            # quantized blocks come back as bytes; the writer derives the tensor's shape from theirs
            writer.add_tensor(name, gguf.quants.quantize(data, tensor_type), raw_dtype=tensor_type)
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
    finally:
        writer.close()
    os.replace(tmp, out)
    return out
