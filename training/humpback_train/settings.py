"""Training settings and the named presets: `tiny` (tests, minutes on a CPU), `cpu` (LoRA, the default on
a CPU) and `paper` (the paper's full fine-tuning, meant for a GPU)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace

LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


@dataclass(frozen=True)
class TrainSettings:
    method: str = "lora"  # lora | full
    learning_rate: float = 2e-4
    final_lr_ratio: float = 0.1  # the rate decays linearly to learning_rate * final_lr_ratio
    warmup_steps: int = 0
    weight_decay: float = 0.0
    batch_size: int = 8  # examples per optimiser step (micro_batch_size x accumulation)
    small_data_batch_size: int | None = None  # the paper: 8 when there are fewer than 3,000 examples
    micro_batch_size: int = 8
    epochs: float = 1.0
    max_steps: int | None = None  # overrides epochs
    # at least this many steps, whatever the epochs: a small seed set must still learn to end its
    # completion (the 46 embedded seeds are 6 steps an epoch, after which a quarter of the backward
    # model's single draws never stopped; after 24 steps 5-12.5%, benchmarks/augmentation_quality.py)
    min_steps: int = 0
    max_length: int = 512  # tokens of prompt + completion; long prompts are cut, completions kept
    # batches of rows of similar length (less padding), in a random order: transformers' length-grouped
    # sampler (benchmarks/training_throughput.py)
    length_grouped: bool = True
    # bf16 autocast of the matrix products (weights and optimiser stay float32): `auto` where the CPU or
    # GPU computes bf16 natively; on this project's CPU (AVX-512 BF16) a step takes 0.6x the time
    mixed_precision: str = "auto"  # auto | bf16 | no
    dropout: float = 0.05  # LoRA: dropout on the adapter input; full: the model's attention dropout
    lora_r: int = 16
    lora_alpha: int = 32
    lora_targets: tuple[str, ...] = LORA_TARGETS
    heldout_fraction: float = 0.05  # rows kept out of training to measure log-likelihood
    heldout_max: int = 64
    seed: int = 0
    save_steps: int = 0  # checkpoint every N steps so a killed run resumes (0: no checkpoints)
    gguf_type: str = "q8_0"  # q8_0 | f16 | f32: Q8_0 is as faithful here and the fastest in llama.cpp

    def batch_for(self, n_rows: int) -> int:
        if self.small_data_batch_size is not None and n_rows < 3000:
            return self.small_data_batch_size
        return self.batch_size

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    def with_overrides(self, **changes: object) -> TrainSettings:
        return replace(self, **{k: v for k, v in changes.items() if v is not None})


PRESETS: dict[str, TrainSettings] = {
    # A few dozen LoRA steps on short sequences: what the tests and `make iterate` run on a CPU.
    "tiny": TrainSettings(
        learning_rate=1e-3,
        batch_size=4,
        micro_batch_size=4,
        max_steps=12,
        max_length=128,
        lora_r=8,
        lora_alpha=16,
    ),
    # LoRA over every projection, one epoch: the default for real data on a CPU.
    "cpu": TrainSettings(min_steps=24),
    # The paper's full fine-tuning: lr 1e-5 decaying linearly to 9e-6, weight decay 0.1, batch 32
    # (8 below 3,000 examples), dropout 0.1. Meant for a GPU.
    "paper": TrainSettings(
        method="full",
        learning_rate=1e-5,
        final_lr_ratio=0.9,
        weight_decay=0.1,
        batch_size=32,
        small_data_batch_size=8,
        micro_batch_size=8,
        epochs=2.0,
        max_length=2048,
        dropout=0.1,
        save_steps=200,
    ),
}


def preset(name: str) -> TrainSettings:
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown training preset {name!r}; choose one of {', '.join(PRESETS)}") from None
