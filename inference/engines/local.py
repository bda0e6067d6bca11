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
import itertools
import os
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import llama_cpp
import numpy as np

from inference.engines.base import (
    Choice,
    Completion,
    InProcessBatches,
    Likelihood,
    Piece,
    PieceScore,
    common_prefix,
    cut_at_stop,
)
from inference.engines.llama_handles import LlamaHandles
from inference.models import file_sha256
from inference.sampling import Sampling, sample_token

_PREFIX_SEQ = 0


@ctypes.CFUNCTYPE(None, ctypes.c_int, ctypes.c_char_p, ctypes.c_void_p)
def _quiet_log(level: int, text: bytes, user_data: ctypes.c_void_p) -> None:
    """llama.cpp's load-time chatter would bury the progress bar; errors surface as exceptions."""


def _logsumexp(logits: np.ndarray, rows_per_block: int = 32) -> np.ndarray:
    """log(sum(exp(row))) of every row, in blocks so the temporary array stays small (the vocabulary is
    262k tokens for Gemma 3)."""
    out = np.empty(logits.shape[0], dtype=np.float64)
    for start in range(0, logits.shape[0], rows_per_block):
        block = logits[start : start + rows_per_block]
        peak = block.max(axis=1, keepdims=True)
        out[start : start + len(block)] = np.log(np.exp(block - peak).sum(axis=1, dtype=np.float64)) + peak[
            :, 0
        ].astype(np.float64)
    return out


@dataclass
class _Row:
    index: int
    tokens: list[int]
    rng: np.random.Generator | None = None
    draw: int = 0  # which of the row's samples this is
    generated: list[int] = field(default_factory=list)
    position: int = 0
    logits_at: int = -1  # this row's output index in the current batch


@dataclass
class _Group:
    """The samples of one row, and the sequence that holds the cells of its prompt."""

    draws: list[_Row]
    cells: int  # KV cells it may need: its prompt and every sample's tokens
    holder: int = -1
    end: int = 0  # the position after its prompt
    started: int = 0
    done: int = 0
    logits: np.ndarray | None = None  # after its prompt, kept for samples that start later


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
        self._llama = LlamaHandles(self.path)
        params = llama_cpp.llama_context_default_params()
        params.n_ctx = min(n_ctx, self._llama.n_ctx_train())
        params.n_batch = params.n_ctx
        params.n_ubatch = self._n_ubatch = 512
        params.n_seq_max = self.parallel + 1
        params.n_threads = params.n_threads_batch = threads
        params.kv_unified = True  # one cache for all rows, so copying the prefix to a row is free
        params.swa_full = True  # sliding-window layers keep the whole prefix, which every row reuses
        self._llama.open_context(params)
        self.n_ctx = self._llama.n_ctx()
        self._n_vocab = self._llama.n_vocab()
        self._batch = llama_cpp.llama_batch_init(self.n_ctx, 0, 1)
        self._prefix_text: str | None = None
        self._prefix_tokens: list[int] = []
        self.decode_seconds = 0.0

    # Tokens -------------------------------------------------------------------------------------
    def tokenize(self, text: str, add_bos: bool = False) -> list[int]:
        return self._llama.tokenize(text.encode("utf-8"), add_bos, False)

    def detokenize(self, tokens: Sequence[int]) -> str:
        return self._llama.detokenize(list(tokens)).decode("utf-8", errors="replace")

    def _is_end(self, token: int) -> bool:
        return self._llama.is_end(token)

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
        status = llama_cpp.llama_decode(self._llama.ctx, batch)
        self.decode_seconds += time.perf_counter() - started
        if status != 0:
            raise RuntimeError(f"llama_decode failed with status {status} ({len(entries)} tokens)")

    def _logits(self, index: int) -> np.ndarray:
        pointer = llama_cpp.llama_get_logits_ith(self._llama.ctx, index)
        return np.ctypeslib.as_array(pointer, shape=(self._n_vocab,))

    def _set_prefix(self, prefix: str) -> None:
        """Decode the fixed prefix into sequence 0, unless it is already there."""
        if prefix == self._prefix_text:
            return
        llama_cpp.llama_memory_clear(self._llama.memory, True)
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
        llama_cpp.llama_memory_seq_cp(self._llama.memory, _PREFIX_SEQ, seq, -1, -1)
        start = len(self._prefix_tokens)
        last = len(row.tokens) - 1
        row.logits_at = len(entries) + last
        entries.extend((t, start + i, seq, i == last) for i, t in enumerate(row.tokens))
        row.position = start + len(row.tokens)

    def _free(self, seq: int) -> None:
        llama_cpp.llama_memory_seq_rm(self._llama.memory, seq, -1, -1)

    def _check_fits(self, n_tokens: int) -> None:
        if n_tokens > self._budget:
            raise ValueError(
                f"a row needs {n_tokens} tokens but only {self._budget} fit beside the prompt's fixed part; "
                "lower max_input_chars or raise n_ctx"
            )

    # Stage calls --------------------------------------------------------------------------------
    def choose(self, prefix: str, suffixes: Sequence[str], candidates: Sequence[str]) -> list[Choice]:
        found = self.likelihood(prefix, [[Piece(suffix)] for suffix in suffixes], candidates)
        return [
            Choice(probs=f.probs, prompt_tokens=f.prompt_tokens, uncached_tokens=f.uncached_tokens)
            for f in found
        ]

    def _row_tokens(
        self, pieces: Sequence[Piece], candidates: Sequence[str]
    ) -> tuple[list[int], list[tuple[int, int]], list[int], list[int]]:
        """A row's tokens (each piece tokenized on its own, so a piece's tokens are the same in every
        row it appears in), the (piece, token) pairs whose log-probability is wanted at each position
        (piece -1: none), the pieces' token counts, and the candidates' tokens after the last piece."""
        tokens: list[int] = []
        counts: list[int] = []
        targets: list[int] = []  # piece index of each token that is scored, -1 otherwise
        candidate_tokens: list[int] = []
        for j, piece in enumerate(pieces):
            last = j == len(pieces) - 1
            if last and candidates:
                variants = [self.tokenize(piece.text + c) for c in candidates]
                shared = len(common_prefix([tuple(v) for v in variants]))
                if any(len(v) != shared + 1 for v in variants):
                    raise ValueError(
                        f"the candidates {list(candidates)} are not single tokens after this prompt"
                    )
                piece_tokens, candidate_tokens = variants[0][:shared], [v[shared] for v in variants]
            else:
                piece_tokens = self.tokenize(piece.text)
                if piece.read >= 0:
                    piece_tokens = piece_tokens[: piece.read]
            n_scored = len(piece_tokens) if piece.scored < 0 else min(piece.scored, len(piece_tokens))
            if n_scored and not tokens:
                raise ValueError("the first piece of a row cannot be scored")
            targets += [j] * n_scored + [-1] * (len(piece_tokens) - n_scored)
            tokens += piece_tokens
            counts.append(len(piece_tokens))
        # the logits at position i predict token i + 1
        wanted = [(targets[i + 1], tokens[i + 1]) for i in range(len(tokens) - 1)] + [(-1, -1)]
        return tokens, wanted, counts, candidate_tokens

    def likelihood(
        self, prefix: str, rows: Sequence[Sequence[Piece]], candidates: Sequence[str] = ()
    ) -> list[Likelihood]:
        self._set_prefix(prefix)
        prepared = []
        for i, pieces in enumerate(rows):
            tokens, wanted, counts, candidate_tokens = self._row_tokens(pieces, candidates)
            if not tokens:
                raise ValueError("a row has no tokens")
            self._check_fits(len(tokens))
            prepared.append((_Row(index=i, tokens=tokens), wanted, counts, candidate_tokens))
        scored: list[list[list[float]]] = [[[] for _ in counts] for _, _, counts, _ in prepared]
        probs: list[tuple[float, ...] | None] = [None] * len(prepared)
        queue = deque(prepared)
        free = list(range(self.parallel, 0, -1))
        partial: tuple[int, tuple, int] | None = None  # a row whose tokens did not all fit the last call
        start = len(self._prefix_tokens)
        while queue or partial:
            # Chunked prefill: fill every call with exactly one micro-batch of tokens, taken in row
            # order, a row spilling into the next call. Full micro-batches keep the matrix products
            # efficient, and few rows live in the cache at once, so attention spans little beyond the
            # prefix (grouping whole rows instead was 10-20% slower here).
            entries: list[tuple[int, int, int, bool]] = []
            outputs: list[tuple[int, int, int]] = []  # (row, piece or -1 for the candidates, token)
            finished: list[int] = []
            while len(entries) < self._n_ubatch:
                if partial is None:
                    if not queue or not free:
                        break
                    item = queue.popleft()
                    seq = free.pop()
                    llama_cpp.llama_memory_seq_cp(self._llama.memory, _PREFIX_SEQ, seq, -1, -1)
                    partial = (seq, item, 0)
                seq, (row, wanted, _, candidate_tokens), done = partial
                take = min(self._n_ubatch - len(entries), len(row.tokens) - done)
                last = len(row.tokens) - 1
                for i in range(done, done + take):
                    piece, target = wanted[i]
                    ask = piece >= 0 or (i == last and bool(candidate_tokens))
                    entries.append((row.tokens[i], start + i, seq, ask))
                    if piece >= 0:
                        outputs.append((row.index, piece, target))
                    elif ask:
                        outputs.append((row.index, -1, -1))
                if done + take == len(row.tokens):
                    finished.append(seq)
                    partial = None
                else:
                    partial = (seq, (row, wanted, _, candidate_tokens), done + take)
            self._decode(entries)
            if outputs:
                logits = self._output_logits([i for i, e in enumerate(entries) if e[3]])
                picked = [t if piece >= 0 else 0 for _, piece, t in outputs]
                token_logprobs = logits[np.arange(len(outputs)), picked] - _logsumexp(logits)
                for k, (index, piece, _) in enumerate(outputs):
                    if piece >= 0:
                        scored[index][piece].append(float(token_logprobs[k]))
                    else:
                        chosen = logits[k, prepared[index][3]].astype(np.float64)
                        weights = np.exp(chosen - chosen.max())
                        probs[index] = tuple(float(p) for p in weights / weights.sum())
            for seq in finished:
                self._free(seq)
                free.append(seq)
        results = []
        for (row, _, counts, _), row_scored, row_probs in zip(prepared, scored, probs, strict=True):
            results.append(
                Likelihood(
                    pieces=tuple(PieceScore(tuple(lp), c) for lp, c in zip(row_scored, counts, strict=True)),
                    probs=row_probs,
                    prompt_tokens=len(self._prefix_tokens) + len(row.tokens),
                    uncached_tokens=len(row.tokens),
                )
            )
        return results

    def _output_logits(self, batch_indices: list[int]) -> np.ndarray:
        """The logits of the given batch entries as one (n, vocabulary) array, without copying when
        llama.cpp holds them contiguously in batch order (it does for a single sequence of outputs)."""
        addresses = [
            ctypes.cast(llama_cpp.llama_get_logits_ith(self._llama.ctx, i), ctypes.c_void_p).value
            for i in batch_indices
        ]
        row_bytes = self._n_vocab * 4
        if all(b - a == row_bytes for a, b in itertools.pairwise(addresses)):
            pointer = llama_cpp.llama_get_logits_ith(self._llama.ctx, batch_indices[0])
            return np.ctypeslib.as_array(pointer, shape=(len(batch_indices), self._n_vocab))
        return np.stack([self._logits(i) for i in batch_indices])

    def complete(
        self,
        prefix: str,
        suffixes: Sequence[str],
        sampling: Sampling,
        seeds: Sequence[int],
        stop: Sequence[str],
    ) -> list[Completion]:
        return [row[0] for row in self.sample(prefix, suffixes, sampling, [[s] for s in seeds], stop)]

    def sample(
        self,
        prefix: str,
        suffixes: Sequence[str],
        sampling: Sampling,
        seeds: Sequence[Sequence[int]],
        stop: Sequence[str],
    ) -> list[list[Completion]]:
        """k samples of a row read its prompt once. The row's first sample reads it in its own sequence;
        the others start in any free sequence as copies of the prompt's cells (a copy in a unified cache
        only tags cells) and draw their first token from the same logits, each with its own generator.
        A first sample that ends before its siblings have started keeps the prompt's cells for them."""
        self._set_prefix(prefix)
        queue: deque[_Group] = deque()
        for i, suffix in enumerate(suffixes):
            tokens = self.tokenize(suffix)
            if not 1 <= len(seeds[i]) <= self.parallel:
                raise ValueError(f"a row asks for {len(seeds[i])} samples; 1 to {self.parallel} can run")
            self._check_fits(len(tokens) + len(seeds[i]) * sampling.max_new_tokens)
            draws = [
                _Row(index=i, draw=j, tokens=tokens, rng=np.random.default_rng(seed))
                for j, seed in enumerate(seeds[i])
            ]
            queue.append(_Group(draws=draws, cells=len(tokens) + len(draws) * sampling.max_new_tokens))
        results: list[list[Completion | None]] = [[None] * len(row) for row in seeds]
        groups = {group.draws[0].index: group for group in queue}
        active: dict[int, _Row] = {}
        waiting: deque[_Group] = deque()  # read rows with samples not yet started
        holders: set[int] = set()  # sequences that only keep a prompt's cells for samples to come
        reserved = 0  # KV cells promised to started rows, so a started row can always finish

        def finish(seq: int, row: _Row, text: str, stopped: bool) -> None:
            nonlocal reserved
            results[row.index][row.draw] = Completion(
                text=text,
                stopped=stopped,
                prompt_tokens=len(self._prefix_tokens) + len(row.tokens),
                uncached_tokens=len(row.tokens) if row.draw == 0 else 0,
                completion_tokens=len(row.generated),
            )
            group = groups[row.index]
            group.done += 1
            if group.done == len(group.draws):
                reserved -= group.cells
            if seq == group.holder and group.started < len(group.draws):
                llama_cpp.llama_memory_seq_rm(self._llama.memory, seq, group.end, -1)  # keep the prompt
                holders.add(seq)
            else:
                self._free(seq)

        def advance(seq: int, row: _Row, token: int) -> bool:
            """Take a sampled token; True when the sample is finished (and recorded)."""
            end = self._is_end(token)
            if not end:
                row.generated.append(token)
            text, hit_stop = cut_at_stop(self.detokenize(row.generated), stop)
            if end or hit_stop or len(row.generated) >= sampling.max_new_tokens:
                finish(seq, row, text, end or hit_stop)
                return True
            return False

        while queue or active or waiting:
            entries: list[tuple[int, int, int, bool]] = []
            for seq, row in active.items():  # one new token for every running sample
                row.logits_at = len(entries)
                entries.append((row.generated[-1], row.position, seq, True))
                row.position += 1
            free = [s for s in range(1, self.parallel + 1) if s not in active and s not in holders]
            while waiting and free:  # the next sample of a read row, from its prompt's cells
                group = waiting[0]
                row, seq = group.draws[group.started], free.pop(0)
                llama_cpp.llama_memory_seq_cp(self._llama.memory, group.holder, seq, -1, group.end)
                group.started += 1
                if group.started == len(group.draws):
                    waiting.popleft()
                    if group.holder in holders:
                        holders.discard(group.holder)
                        self._free(group.holder)
                row.position = group.end
                if advance(
                    seq, row, sample_token(group.logits, sampling.temperature, sampling.top_p, row.rng)
                ):
                    free.insert(0, seq)
                    continue
                active[seq] = row
                row.logits_at = len(entries)
                entries.append((row.generated[-1], row.position, seq, True))
                row.position += 1
            reading: list[_Group] = []
            while queue and free and not waiting:
                if reserved + queue[0].cells > self._budget:
                    break
                group, seq = queue.popleft(), free.pop(0)
                reserved += group.cells
                self._start_row(seq, group.draws[0], entries)
                group.holder, group.end, group.started = seq, group.draws[0].position, 1
                active[seq] = group.draws[0]
                reading.append(group)
                if len(group.draws) > 1:
                    # one row with samples to come at a time: its prompt's holder is then the only one,
                    # and some other sequence always runs or is free for its samples
                    break
            if not entries:
                continue  # every sample started in this round ended on its first token
            self._decode(entries)
            for group in reading:
                if len(group.draws) > 1:
                    group.logits = self._logits(group.draws[0].logits_at).copy()
                    waiting.append(group)
            for seq, row in list(active.items()):
                token = sample_token(
                    self._logits(row.logits_at), sampling.temperature, sampling.top_p, row.rng
                )
                if advance(seq, row, token):
                    del active[seq]
        return results  # type: ignore[return-value]

    def prompt_rate(self, n_tokens: int = 512, depth: int = 0, repeats: int = 3) -> float:
        """llama.cpp's own prompt-processing speed (tokens/s) on this machine, as llama-bench measures it:
        `n_tokens` fresh tokens of one sequence after `depth` tokens already in the cache (`-p 512 -d N`).
        The median of `repeats`; the cache is left empty."""
        self._prefix_text, self._prefix_tokens = None, []
        tokens = [t % 1000 + 1000 for t in range(depth + n_tokens)]
        rates = []
        for _ in range(repeats):
            llama_cpp.llama_memory_clear(self._llama.memory, True)
            for start in range(0, depth, 512):
                chunk = tokens[start : min(start + 512, depth)]
                self._decode([(t, start + i, 0, False) for i, t in enumerate(chunk)])
            started = time.perf_counter()
            for start in range(depth, depth + n_tokens, 512):
                chunk = tokens[start : min(start + 512, depth + n_tokens)]
                last = start + len(chunk) == depth + n_tokens
                self._decode([(t, start + i, 0, last and i == len(chunk) - 1) for i, t in enumerate(chunk)])
            rates.append(n_tokens / (time.perf_counter() - started))
        llama_cpp.llama_memory_clear(self._llama.memory, True)
        return float(np.median(rates))

    def close(self) -> None:
        if self._batch is not None:
            llama_cpp.llama_batch_free(self._batch)
            self._batch = None
        self._llama.close()
