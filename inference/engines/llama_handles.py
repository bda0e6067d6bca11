"""A llama.cpp model and context, held through llama-cpp-python's public C bindings (`llama_cpp.llama_*`)
only: its `_internals` wrappers are private and change between releases."""

from __future__ import annotations

import ctypes
from collections.abc import Sequence
from pathlib import Path

import llama_cpp


class LlamaHandles:
    """A loaded GGUF and one context on it; `close` frees both, the context first."""

    def __init__(self, path: Path) -> None:
        if not Path(path).is_file():
            raise ValueError(f"model file not found: {path}")
        self.model = llama_cpp.llama_model_load_from_file(
            str(path).encode("utf-8"), llama_cpp.llama_model_default_params()
        )
        if not self.model:
            raise ValueError(f"llama.cpp could not load the model {path}")
        self.vocab = llama_cpp.llama_model_get_vocab(self.model)
        self.ctx = None
        self.memory = None

    def open_context(self, params: llama_cpp.llama_context_params) -> None:
        self.ctx = llama_cpp.llama_init_from_model(self.model, params)
        if not self.ctx:
            self.close()
            raise RuntimeError("llama.cpp could not create a context (too little memory for n_ctx?)")
        self.memory = llama_cpp.llama_get_memory(self.ctx)

    def n_ctx_train(self) -> int:
        return llama_cpp.llama_model_n_ctx_train(self.model)

    def n_ctx(self) -> int:
        return llama_cpp.llama_n_ctx(self.ctx)

    def n_vocab(self) -> int:
        return llama_cpp.llama_vocab_n_tokens(self.vocab)

    def tokenize(self, text: bytes, add_bos: bool, special: bool) -> list[int]:
        size = len(text) + 2  # a token holds a byte at least; room for BOS
        tokens = (llama_cpp.llama_token * size)()
        n = llama_cpp.llama_tokenize(self.vocab, text, len(text), tokens, size, add_bos, special)
        if n < 0:  # the buffer was short by this many: llama.cpp says how many it needs
            size = -n
            tokens = (llama_cpp.llama_token * size)()
            n = llama_cpp.llama_tokenize(self.vocab, text, len(text), tokens, size, add_bos, special)
            if n < 0:
                raise RuntimeError(f"llama.cpp could not tokenize {len(text)} bytes of text")
        return list(tokens[:n])

    def detokenize(self, tokens: Sequence[int]) -> bytes:
        """The tokens' pieces, joined; a leading space after a BOS token is dropped."""
        size = 64
        buffer = (ctypes.c_char * size)()
        pieces = []
        for token in tokens:
            n = llama_cpp.llama_token_to_piece(self.vocab, token, buffer, size, 0, False)
            if n < 0:  # a longer piece: the buffer grows to what it needs
                size = -n
                buffer = (ctypes.c_char * size)()
                n = llama_cpp.llama_token_to_piece(self.vocab, token, buffer, size, 0, False)
            pieces.append(bytes(buffer[:n]))
        text = b"".join(pieces)
        if tokens and tokens[0] == llama_cpp.llama_vocab_bos(self.vocab) and text.startswith(b" "):
            return text[1:]
        return text

    def is_end(self, token: int) -> bool:
        return bool(llama_cpp.llama_vocab_is_eog(self.vocab, token))

    def close(self) -> None:
        if self.ctx:
            llama_cpp.llama_free(self.ctx)
            self.ctx = self.memory = None
        if self.model:
            llama_cpp.llama_model_free(self.model)
            self.model = None
