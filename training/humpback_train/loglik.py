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
            tokens = torch.tensor([ids])
            logprobs = torch.log_softmax(model(input_ids=tokens).logits[0, :-1].float(), dim=-1)
            picked = logprobs.gather(1, tokens[0, 1:, None])[:, 0]
            keep = torch.tensor(mask[1:], dtype=torch.bool)
            total += float(picked[keep].sum())
            count += int(keep.sum())
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
            logits = np.asarray(llm.scores[: len(ids) - 1], dtype=np.float64)
            peak = logits.max(axis=1, keepdims=True)
            logprobs = logits - peak - np.log(np.exp(logits - peak).sum(axis=1, keepdims=True))
            picked = logprobs[np.arange(len(ids) - 1), ids[1:]]
            keep = np.asarray(mask[1:], dtype=bool)
            total += float(picked[keep].sum())
            count += int(keep.sum())
    finally:
        llm.close()
    return total / max(count, 1)
