"""Log-likelihood of completions given their prompts, in PyTorch and through llama.cpp.

Both read the same token ids (those the training saw), so the two numbers differ only by the model's
weights: comparing the gain of a trained model over its base in each shows whether the GGUF export
kept what training learned.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np


def torch_loglik(model, input_ids: Sequence[list[int]], masks: Sequence[list[int]]) -> float:
    """Mean log-probability per completion token, over all rows."""
    import torch

    total, count = 0.0, 0
    model.eval()
    with torch.no_grad():
        for ids, mask in zip(input_ids, masks, strict=True):
            # the output layer only at the positions that predict a completion token (`logits_to_keep`)
            at = torch.tensor(mask[1:], dtype=torch.bool).nonzero()[:, 0]
            if not len(at):
                continue
            logits = model(input_ids=torch.tensor([ids]), logits_to_keep=at).logits[0].float()
            picked = torch.log_softmax(logits, dim=-1).gather(1, torch.tensor(ids)[at + 1, None])[:, 0]
            total += float(picked.sum())
            count += len(at)
    return total / max(count, 1)


def gguf_loglik(
    gguf_path: Path, input_ids: Sequence[list[int]], masks: Sequence[list[int]], threads: int | None = None
) -> float:
    """The same measure with llama.cpp evaluating the GGUF file."""
    import llama_cpp

    n_ctx = max(len(ids) for ids in input_ids) + 8
    llm = llama_cpp.Llama(
        model_path=str(gguf_path),
        n_ctx=n_ctx,
        n_batch=n_ctx,
        logits_all=True,
        n_threads=threads or len(os.sched_getaffinity(0)),
        verbose=False,
    )
    total, count = 0.0, 0
    try:
        for ids, mask in zip(input_ids, masks, strict=True):
            llm.reset()
            llm.eval(ids)
            # only the positions that predict a completion token: the prompt's are most of a row, and
            # each is a vocabulary-wide (262,144 for Gemma 3) softmax
            at = np.flatnonzero(np.asarray(mask[1:], dtype=bool))
            logits = np.asarray(llm.scores[at], dtype=np.float64)
            peak = logits.max(axis=1, keepdims=True)
            logprobs = logits - peak - np.log(np.exp(logits - peak).sum(axis=1, keepdims=True))
            picked = logprobs[np.arange(len(at)), np.asarray(ids)[at + 1]]
            total += float(picked.sum())
            count += len(at)
    finally:
        llm.close()
    return total / max(count, 1)
