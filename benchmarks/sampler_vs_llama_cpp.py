"""The sampler: our NumPy nucleus sampler (`inference/sampling.py`) against llama.cpp's own sampler chain
(temperature, top-p, a seeded dist), on the embedded model's real next-token logits.

For each of `--contexts` contexts (the embedded seed pairs' instructions, each a different next-token
distribution over Gemma 3's 262,144 tokens), it checks that both keep the same nucleus as a brute-force
full sort (T=0.7, top-p 0.9, the paper's settings) with the same probabilities, then times one draw:
`sample_token` on the logits as the engine reads them, and `llama_sampler_sample` on the context, which
reads the same logits inside llama.cpp. Medians of `--repeats`, 2 threads.

    .venv/bin/python -m benchmarks.sampler_vs_llama_cpp [--contexts 20] [--draws 50] [--repeats 5]
"""

from __future__ import annotations

import argparse
import ctypes

import llama_cpp
import numpy as np

from benchmarks.harness import alternate, median, print_ratio, print_timings, ratio
from etl.seeds.loaders import load_embedded_seeds
from inference.models import embedded_model_path
from inference.sampling import sample_token

TEMPERATURE, TOP_P = 0.7, 0.9


def brute_force_nucleus(logits: np.ndarray) -> dict[int, float]:
    """Every token of the nucleus and its renormalised probability, by a full sort."""
    scaled = logits.astype(np.float64) / TEMPERATURE
    probs = np.exp(scaled - scaled.max())
    probs /= probs.sum()
    order = np.argsort(-probs, kind="stable")
    keep = int(np.searchsorted(np.cumsum(probs[order]), TOP_P)) + 1
    kept = order[:keep]
    return dict(zip(kept.tolist(), (probs[kept] / probs[kept].sum()).tolist(), strict=True))


def edge(logits: np.ndarray) -> str:
    """The cumulative probability, in float64, around the point where the brute-force nucleus ends."""
    scaled = logits.astype(np.float64) / TEMPERATURE
    probs = np.sort(np.exp(scaled - scaled.max()))[::-1]
    cumulative = np.cumsum(probs / probs.sum())
    keep = int(np.searchsorted(cumulative, TOP_P))
    around = ", ".join(f"{c:.6f}" for c in cumulative[max(keep - 1, 0) : keep + 2])
    return f"cumulative mass around top-p {TOP_P}: {around}"


def llama_chain(seed: int | None) -> ctypes.c_void_p:
    """temperature, top-p, then a dist seeded with `seed` (None: no dist, the nucleus only)."""
    chain = llama_cpp.llama_sampler_chain_init(llama_cpp.llama_sampler_chain_default_params())
    llama_cpp.llama_sampler_chain_add(chain, llama_cpp.llama_sampler_init_temp(TEMPERATURE))
    llama_cpp.llama_sampler_chain_add(chain, llama_cpp.llama_sampler_init_top_p(TOP_P, 1))
    if seed is not None:
        llama_cpp.llama_sampler_chain_add(chain, llama_cpp.llama_sampler_init_dist(seed))
    return chain


def llama_nucleus(logits: np.ndarray) -> dict[int, float]:
    """The candidates llama.cpp's temperature and top-p keep, with their renormalised probabilities."""
    data = np.zeros(logits.size, dtype=[("id", "<i4"), ("logit", "<f4"), ("p", "<f4")])
    data["id"], data["logit"] = np.arange(logits.size, dtype=np.int32), logits
    array = llama_cpp.llama_token_data_array(
        data=data.ctypes.data_as(llama_cpp.llama_token_data_p), size=logits.size, selected=-1, sorted=False
    )
    chain = llama_chain(None)
    llama_cpp.llama_sampler_apply(chain, ctypes.byref(array))
    llama_cpp.llama_sampler_free(chain)
    kept = data[: array.size]
    scaled = kept["logit"].astype(np.float64)  # the temperature is applied to the logits in place
    probs = np.exp(scaled - scaled.max())
    return dict(zip(kept["id"].tolist(), (probs / probs.sum()).tolist(), strict=True))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--contexts", type=int, default=20)
    parser.add_argument("--draws", type=int, default=50, help="draws per timed run")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    llm = llama_cpp.Llama(str(embedded_model_path()), n_ctx=512, n_threads=2, verbose=False)
    n_vocab = llm.n_vocab()
    prompts = [row["instruction"] for row in load_embedded_seeds().rows][: args.contexts]
    same_set, worst_gap, nucleus_sizes = 0, 0.0, []
    timings: dict[str, list[float]] = {"numpy sample_token": [], "llama.cpp chain": []}
    rng = np.random.default_rng(0)
    chain = llama_chain(1234)
    for prompt in prompts:
        llm.reset()
        llm.eval(llm.tokenize(prompt.encode()))
        logits = np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(llm.ctx, -1), shape=(n_vocab,)).copy()
        truth, ours = brute_force_nucleus(logits), llama_nucleus(logits)
        nucleus_sizes.append(len(truth))
        if set(truth) == set(ours):
            same_set += 1
            worst_gap = max(worst_gap, max(abs(truth[t] - ours[t]) for t in truth))
        else:
            sizes = f"brute force {len(truth)} tokens, llama.cpp {len(ours)}"
            print(f"  nucleus differs: {sizes}; {edge(logits)}")

        def numpy_draws(logits: np.ndarray = logits) -> None:
            for _ in range(args.draws):
                sample_token(logits, TEMPERATURE, TOP_P, rng)

        def llama_draws() -> None:
            for _ in range(args.draws):
                llama_cpp.llama_sampler_sample(chain, llm.ctx, -1)

        seconds, _ = alternate(
            {"numpy sample_token": numpy_draws, "llama.cpp chain": llama_draws}, args.repeats
        )
        for name, values in seconds.items():
            timings[name].append(median(values) / args.draws)
    llama_cpp.llama_sampler_free(chain)

    print(f"{len(prompts)} contexts, vocabulary {n_vocab:,}; nucleus size median {median(nucleus_sizes):.0f}")
    print(f"llama.cpp's nucleus equals the brute-force one in {same_set} of {len(prompts)} contexts;")
    print(f"  largest probability gap where equal: {worst_gap:.2e}")
    print("milliseconds per draw (median over contexts of each context's median):")
    print_timings(timings, unit="ms", scale=1000)
    print_ratio(
        "llama.cpp chain / numpy (time per draw)",
        ratio(timings["llama.cpp chain"], timings["numpy sample_token"]),
        "<= 1.0 to replace the NumPy sampler",
    )


if __name__ == "__main__":
    main()
