"""One fine-tuning run with TRL's SFTTrainer: LoRA or full, loss on completion tokens only, the rate
decaying linearly from `learning_rate` to `learning_rate * final_lr_ratio` (the paper: 1e-5 to 9e-6).

The examples arrive tokenized with their completion mask (see encoding.py), so TRL only pads them and
builds labels; which tokens count is decided once, in our code, and tested there.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path

from humpback_train.encoding import Encoded
from humpback_train.settings import TrainSettings


@dataclass
class FitResult:
    model: object  # the trained transformers model; LoRA adapters merged into the weights
    steps: int
    seconds: float
    train_tokens: int
    losses: list[float] = field(default_factory=list)  # one per logged step

    @property
    def first_loss(self) -> float | None:
        return _mean(self.losses[:3])

    @property
    def final_loss(self) -> float | None:
        return _mean(self.losses[-3:])

    @property
    def tokens_per_second(self) -> float:
        return self.train_tokens / self.seconds if self.seconds else 0.0


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def total_steps(settings: TrainSettings, n_rows: int) -> int:
    if settings.max_steps:
        return settings.max_steps
    return max(1, settings.min_steps, math.ceil(n_rows / settings.batch_for(n_rows) * settings.epochs))


def _optimizer(model, settings: TrainSettings, steps: int):
    import torch

    trainable = [p for p in model.parameters() if p.requires_grad]
    decay = [p for p in trainable if p.ndim >= 2]  # no weight decay on norms and biases
    rest = [p for p in trainable if p.ndim < 2]
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": settings.weight_decay}, {"params": rest, "weight_decay": 0.0}],
        lr=settings.learning_rate,
    )
    warmup, floor = settings.warmup_steps, settings.final_lr_ratio

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = min(1.0, (step - warmup) / max(1, steps - warmup - 1))
        return 1.0 - (1.0 - floor) * progress

    return optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def use_bf16(mixed_precision: str, gpu: bool) -> bool:
    """Whether to train with bf16 autocast: asked for, or `auto` and computed natively here."""
    import torch

    if mixed_precision not in ("auto", "bf16", "no"):
        raise ValueError(f"unknown mixed precision {mixed_precision!r}; choose auto, bf16 or no")
    if mixed_precision != "auto":
        return mixed_precision == "bf16"
    if gpu:
        return torch.cuda.is_bf16_supported()
    native = getattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", None)  # oneDNN's own check
    return bool(native and native())


def prepare_model(model, settings: TrainSettings):
    if settings.method == "full":
        return model
    if settings.method != "lora":
        raise ValueError(f"unknown training method {settings.method!r}; choose lora or full")
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(
        r=settings.lora_r,
        lora_alpha=settings.lora_alpha,
        lora_dropout=settings.dropout,
        target_modules=list(settings.lora_targets),
        task_type="CAUSAL_LM",
    )
    return get_peft_model(model, config)


LOSS_CHUNK = 512  # completion positions per slice of the output layer: 512 x 262,144 floats is 0.5 GB


def _causal_lm(model):
    """The transformers causal LM inside a PEFT wrapper (its LoRA layers are in place in it)."""
    return model.get_base_model() if hasattr(model, "get_base_model") else model


def completion_loss(model, inputs: dict, num_items_in_batch: int | None = None):
    """Cross-entropy over completion tokens, with the vocabulary projection only where a token is learned.

    The output layer of a small model with a large vocabulary (Gemma 3: 262k tokens) costs more than the
    rest of the network, so the decoder's hidden states are gathered at the completion positions alone
    (never a prompt's or padding), and projected in slices whose logits are recomputed in the backward
    pass instead of kept: the memory of the loss no longer grows with the batch.
    """
    import torch
    from torch.utils.checkpoint import checkpoint

    lm = _causal_lm(model)
    labels = inputs["labels"]
    targets = labels[:, 1:]
    where = targets != -100  # position p predicts token p + 1
    decoder = lm.get_decoder()
    hidden = decoder(
        input_ids=inputs["input_ids"], attention_mask=inputs.get("attention_mask"), use_cache=False
    ).last_hidden_state
    picked_hidden = hidden[:, :-1][where]
    picked = targets[where]
    head = lm.get_output_embeddings()
    cap = getattr(lm.config, "final_logit_softcapping", None)

    def slice_loss(states, tokens):
        logits = head(states).float()
        if cap is not None:  # as the model's own forward does (Gemma 2)
            logits = torch.tanh(logits / cap) * cap
        return torch.nn.functional.cross_entropy(logits, tokens, reduction="sum")

    total = hidden.new_zeros((), dtype=torch.float32)
    for start in range(0, len(picked), LOSS_CHUNK):
        states, tokens = picked_hidden[start : start + LOSS_CHUNK], picked[start : start + LOSS_CHUNK]
        total = total + checkpoint(slice_loss, states, tokens, use_reentrant=False)
    count = num_items_in_batch if num_items_in_batch is not None else len(picked)
    return total / count


def _trainer_class(cpu_bf16: bool):
    """TRL's trainer with our loss; `cpu_bf16`: the forward pass under bf16 autocast on the CPU, which
    the trainer's own `bf16` flag does not turn on there."""
    import torch
    from trl import SFTTrainer

    class CompletionLossTrainer(SFTTrainer):
        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=cpu_bf16):
                loss = completion_loss(model, inputs, num_items_in_batch)
            return (loss, None) if return_outputs else loss

    return CompletionLossTrainer


def fit(
    model,
    tokenizer,
    encoded: Encoded,
    settings: TrainSettings,
    work_dir: Path,
    *,
    show_progress: bool = True,
) -> FitResult:
    """Train on `encoded`; checkpoints (when `save_steps`) go to `work_dir` and a rerun resumes there."""
    import torch
    from datasets import Dataset
    from transformers import TrainerCallback
    from trl import SFTConfig

    n_rows = len(encoded.input_ids)
    if n_rows == 0:
        raise ValueError("no training rows")
    batch = settings.batch_for(n_rows)
    micro = min(settings.micro_batch_size, batch)
    steps = total_steps(settings, n_rows)
    model = prepare_model(model, settings)
    dataset = Dataset.from_dict({"input_ids": encoded.input_ids, "completion_mask": encoded.completion_mask})
    gpu = torch.cuda.is_available()
    bf16 = use_bf16(settings.mixed_precision, gpu)
    args = SFTConfig(
        output_dir=str(work_dir),
        per_device_train_batch_size=micro,
        gradient_accumulation_steps=max(1, batch // micro),
        max_steps=steps,
        max_length=settings.max_length,
        completion_only_loss=True,
        logging_steps=1,
        save_strategy="steps" if settings.save_steps else "no",
        save_steps=settings.save_steps or 500,
        save_total_limit=2,
        report_to=[],
        seed=settings.seed,
        data_seed=settings.seed,
        use_cpu=not gpu,
        bf16=gpu and bf16,
        disable_tqdm=not show_progress,
        dataloader_num_workers=0,
        train_sampling_strategy="group_by_length" if settings.length_grouped else "random",
        remove_unused_columns=False,
    )
    losses: list[float] = []
    tokens = [0]

    class Record(TrainerCallback):
        def on_log(self, args, state, control, logs=None, **kwargs):
            if logs and "loss" in logs:
                losses.append(float(logs["loss"]))
            if logs and "num_tokens" in logs:
                tokens[0] = int(logs["num_tokens"])

    trainer = _trainer_class(cpu_bf16=bf16 and not gpu)(
        model=model,
        args=args,
        train_dataset=dataset,
        processing_class=tokenizer,
        optimizers=_optimizer(model, settings, steps),
        callbacks=[Record()],
    )
    resume = settings.save_steps > 0 and any(work_dir.glob("checkpoint-*"))
    started = time.perf_counter()
    trainer.train(resume_from_checkpoint=True if resume else None)
    seconds = time.perf_counter() - started
    trained = trainer.model
    if settings.method == "lora":
        trained = trained.merge_and_unload()
    trained.eval()
    if not tokens[0]:  # older TRL does not log token counts: count the examples the steps drew
        mean_len = encoded.n_tokens / n_rows
        tokens[0] = int(mean_len * steps * batch)
    return FitResult(model=trained, steps=steps, seconds=seconds, train_tokens=tokens[0], losses=losses)
