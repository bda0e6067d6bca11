"""In-process llama.cpp through llama-cpp-python's low-level API, with batching and prefix reuse.

The fixed prefix is decoded once into sequence 0. Each row gets its own sequence that starts as a copy
of sequence 0 (in a unified KV cache the copy only tags the prefix's cells, it copies no data), so a
row costs only its suffix. Several rows share every `llama_decode` call: their suffixes are read in
full micro-batches (chunked prefill), and their generated tokens advance together, one token per row per
call, with a finished row's slot refilled at once (continuous batching). On a CPU this decodes more
tokens per second than one sequence (1.5x with 4 rows on 2 cores), as each step reads the weights once
for all rows.

Rows in one call influence each other's logits only through float rounding. With the same input and
settings the batches are the same, so the results repeat.
"""

from __future__ import annotations

import ctypes
import os
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import llama_cpp
import numpy as np
from llama_cpp._internals import LlamaContext, LlamaModel

from inference.engines.base import Choice, Completion, InProcessBatches, common_prefix, cut_at_stop
from inference.models import file_sha256
from inference.sampling import Sampling, sample_token

_PREFIX_SEQ = 0


@ctypes.CFUNCTYPE(None, ctypes.c_int, ctypes.c_char_p, ctypes.c_void_p)
def _quiet_log(level: int, text: bytes, user_data: ctypes.c_void_p) -> None:
    """llama.cpp's load-time chatter would bury the progress bar; errors surface as exceptions."""


@dataclass
class _Row:
    index: int
    tokens: list[int]
    rng: np.random.Generator | None = None
    generated: list[int] = field(default_factory=list)
    position: int = 0
    logits_at: int = -1  # this row's output index in the current batch


class LocalEngine(InProcessBatches):
    """A GGUF model loaded in this process."""

    def __init__(
        self,
        path: Path,
        source: str,
        n_ctx: int = 16384,
        parallel: int = 8,
        n_threads: int | None = None,
    ) -> None:
        llama_cpp.llama_log_set(_quiet_log, ctypes.c_void_p())
        self.path = Path(path)
        self.model_source = source
        self.model_id = file_sha256(self.path)
        self.parallel = max(1, parallel)
        threads = n_threads or len(os.sched_getaffinity(0))
        self._model = LlamaModel(
            path_model=str(self.path), params=llama_cpp.llama_model_default_params(), verbose=False
        )
        params = llama_cpp.llama_context_default_params()
        params.n_ctx = min(n_ctx, self._model.n_ctx_train())
        params.n_batch = params.n_ctx
        params.n_ubatch = self._n_ubatch = 512
        params.n_seq_max = self.parallel + 1
        params.n_threads = params.n_threads_batch = threads
        params.kv_unified = True  # one cache for all rows, so copying the prefix to a row is free
        params.swa_full = True  # sliding-window layers keep the whole prefix, which every row reuses
        self._ctx = LlamaContext(model=self._model, params=params, verbose=False)
        self.n_ctx = self._ctx.n_ctx()
        self._n_vocab = self._model.n_vocab()
        self._batch = llama_cpp.llama_batch_init(self.n_ctx, 0, 1)
        self._prefix_text: str | None = None
        self._prefix_tokens: list[int] = []
        self.decode_seconds = 0.0

    # Tokens -------------------------------------------------------------------------------------
    def tokenize(self, text: str, add_bos: bool = False) -> list[int]:
        return self._model.tokenize(text.encode("utf-8"), add_bos, False)

    def detokenize(self, tokens: Sequence[int]) -> str:
        return self._model.detokenize(list(tokens)).decode("utf-8", errors="replace")

    def _is_end(self, token: int) -> bool:
        return bool(llama_cpp.llama_vocab_is_eog(self._model.vocab, token))

    # Batches ------------------------------------------------------------------------------------
    def _decode(self, entries: list[tuple[int, int, int, bool]]) -> None:
        """Decode (token, position, sequence, wants_logits) entries in one call."""
        batch = self._batch
        batch.n_tokens = len(entries)
        for i, (token, pos, seq, logits) in enumerate(entries):
            batch.token[i] = token
            batch.pos[i] = pos
            batch.n_seq_id[i] = 1
            batch.seq_id[i][0] = seq
            batch.logits[i] = logits
        started = time.perf_counter()
        status = llama_cpp.llama_decode(self._ctx.ctx, batch)
        self.decode_seconds += time.perf_counter() - started
        if status != 0:
            raise RuntimeError(f"llama_decode failed with status {status} ({len(entries)} tokens)")

    def _logits(self, index: int) -> np.ndarray:
        pointer = llama_cpp.llama_get_logits_ith(self._ctx.ctx, index)
        return np.ctypeslib.as_array(pointer, shape=(self._n_vocab,))

    def _set_prefix(self, prefix: str) -> None:
        """Decode the fixed prefix into sequence 0, unless it is already there."""
        if prefix == self._prefix_text:
            return
        llama_cpp.llama_memory_clear(self._ctx.memory, True)
        self._prefix_text = None
        tokens = self.tokenize(prefix, add_bos=True)
        if len(tokens) >= self.n_ctx // 2:
            raise ValueError(f"the prompt's fixed part has {len(tokens)} tokens; the context is {self.n_ctx}")
        for start in range(0, len(tokens), 512):
            chunk = tokens[start : start + 512]
            self._decode([(t, start + i, _PREFIX_SEQ, False) for i, t in enumerate(chunk)])
        self._prefix_text, self._prefix_tokens = prefix, tokens

    @property
    def _budget(self) -> int:
        """KV cells left for rows once the prefix is in."""
        return self.n_ctx - len(self._prefix_tokens)

    def _start_row(self, seq: int, row: _Row, entries: list[tuple[int, int, int, bool]]) -> None:
        llama_cpp.llama_memory_seq_cp(self._ctx.memory, _PREFIX_SEQ, seq, -1, -1)
        start = len(self._prefix_tokens)
        last = len(row.tokens) - 1
        row.logits_at = len(entries) + last
        entries.extend((t, start + i, seq, i == last) for i, t in enumerate(row.tokens))
        row.position = start + len(row.tokens)

    def _free(self, seq: int) -> None:
        llama_cpp.llama_memory_seq_rm(self._ctx.memory, seq, -1, -1)

    def _check_fits(self, n_tokens: int) -> None:
        if n_tokens > self._budget:
            raise ValueError(
                f"a row needs {n_tokens} tokens but only {self._budget} fit beside the prompt's fixed part; "
                "lower max_input_chars or raise n_ctx"
            )

    # Stage calls --------------------------------------------------------------------------------
    def choose(self, prefix: str, suffixes: Sequence[str], candidates: Sequence[str]) -> list[Choice]:
        self._set_prefix(prefix)
        rows, targets = [], []
        for i, suffix in enumerate(suffixes):
            variants = [self.tokenize(suffix + c) for c in candidates]
            shared = len(common_prefix([tuple(v) for v in variants]))
            if any(len(v) != shared + 1 for v in variants):
                raise ValueError(f"the candidates {list(candidates)} are not single tokens after this prompt")
            self._check_fits(shared)
            rows.append(_Row(index=i, tokens=variants[0][:shared]))
            targets.append([v[shared] for v in variants])
        results: list[Choice | None] = [None] * len(rows)
        queue = deque(rows)
        free = list(range(self.parallel, 0, -1))
        partial: tuple[int, _Row, int] | None = None  # a row whose tokens did not all fit the last call
        start = len(self._prefix_tokens)
        while queue or partial:
            # Chunked prefill: fill every call with exactly one micro-batch of tokens, taken in row
            # order, a row spilling into the next call. Full micro-batches keep the matrix products
            # efficient, and few rows live in the cache at once, so attention spans little beyond the
            # prefix (grouping whole rows instead was 10-20% slower here).
            entries: list[tuple[int, int, int, bool]] = []
            finished: list[tuple[int, _Row]] = []
            while len(entries) < self._n_ubatch:
                if partial is None:
                    if not queue or not free:
                        break
                    seq, row = free.pop(), queue.popleft()
                    llama_cpp.llama_memory_seq_cp(self._ctx.memory, _PREFIX_SEQ, seq, -1, -1)
                    partial = (seq, row, 0)
                seq, row, done = partial
                take = min(self._n_ubatch - len(entries), len(row.tokens) - done)
                last = len(row.tokens) - 1
                entries.extend((row.tokens[i], start + i, seq, i == last) for i in range(done, done + take))
                if done + take == len(row.tokens):
                    row.logits_at = len(entries) - 1
                    finished.append((seq, row))
                    partial = None
                else:
                    partial = (seq, row, done + take)
            self._decode(entries)
            for seq, row in finished:
                logits = self._logits(row.logits_at)[targets[row.index]].astype(np.float64)
                weights = np.exp(logits - logits.max())
                probs = tuple(float(p) for p in weights / weights.sum())
                n_prompt = len(self._prefix_tokens) + len(row.tokens)
                results[row.index] = Choice(
                    probs=probs, prompt_tokens=n_prompt, uncached_tokens=len(row.tokens)
                )
                self._free(seq)
                free.append(seq)
        return results  # type: ignore[return-value]

    def complete(
        self,
        prefix: str,
        suffixes: Sequence[str],
        sampling: Sampling,
        seeds: Sequence[int],
        stop: Sequence[str],
    ) -> list[Completion]:
        self._set_prefix(prefix)
        queue: deque[_Row] = deque()
        for i, suffix in enumerate(suffixes):
            row = _Row(index=i, tokens=self.tokenize(suffix), rng=np.random.default_rng(seeds[i]))
            self._check_fits(len(row.tokens) + sampling.max_new_tokens)
            queue.append(row)
        results: list[Completion | None] = [None] * len(suffixes)
        active: dict[int, _Row] = {}
        reserved = 0  # KV cells promised to active rows, so a started row can always finish
        while queue or active:
            entries: list[tuple[int, int, int, bool]] = []
            for seq, row in active.items():  # one new token for every running row
                row.logits_at = len(entries)
                entries.append((row.generated[-1], row.position, seq, True))
                row.position += 1
            free = [s for s in range(1, self.parallel + 1) if s not in active]
            while queue and free:
                need = len(queue[0].tokens) + sampling.max_new_tokens
                if reserved + need > self._budget:
                    break
                row, seq = queue.popleft(), free.pop(0)
                reserved += need
                active[seq] = row
                self._start_row(seq, row, entries)
            self._decode(entries)
            for seq, row in list(active.items()):
                token = sample_token(
                    self._logits(row.logits_at), sampling.temperature, sampling.top_p, row.rng
                )
                end = self._is_end(token)
                if not end:
                    row.generated.append(token)
                text, hit_stop = cut_at_stop(self.detokenize(row.generated), stop)
                if end or hit_stop or len(row.generated) >= sampling.max_new_tokens:
                    results[row.index] = Completion(
                        text=text,
                        stopped=end or hit_stop,
                        prompt_tokens=len(self._prefix_tokens) + len(row.tokens),
                        uncached_tokens=len(row.tokens),
                        completion_tokens=len(row.generated),
                    )
                    reserved -= len(row.tokens) + sampling.max_new_tokens
                    del active[seq]
                    self._free(seq)
        return results  # type: ignore[return-value]

    def prompt_rate(self, n_tokens: int = 512, depth: int = 0, repeats: int = 3) -> float:
        """llama.cpp's own prompt-processing speed (tokens/s) on this machine, as llama-bench measures it:
        `n_tokens` fresh tokens of one sequence after `depth` tokens already in the cache (`-p 512 -d N`).
        The median of `repeats`; the cache is left empty."""
        self._prefix_text, self._prefix_tokens = None, []
        tokens = [t % 1000 + 1000 for t in range(depth + n_tokens)]
        rates = []
        for _ in range(repeats):
            llama_cpp.llama_memory_clear(self._ctx.memory, True)
            for start in range(0, depth, 512):
                chunk = tokens[start : min(start + 512, depth)]
                self._decode([(t, start + i, 0, False) for i, t in enumerate(chunk)])
            started = time.perf_counter()
            for start in range(depth, depth + n_tokens, 512):
                chunk = tokens[start : min(start + 512, depth + n_tokens)]
                last = start + len(chunk) == depth + n_tokens
                self._decode([(t, start + i, 0, last and i == len(chunk) - 1) for i, t in enumerate(chunk)])
            rates.append(n_tokens / (time.perf_counter() - started))
        llama_cpp.llama_memory_clear(self._ctx.memory, True)
        return float(np.median(rates))

    def close(self) -> None:
        if self._batch is not None:
            llama_cpp.llama_batch_free(self._batch)
            self._batch = None
        self._ctx.close()
        self._model.close()
