"""Fine-tuning on the real OpenAssistant seed pairs: the loss mask, the loss falling, and a GGUF export
that llama.cpp loads and that keeps what training learned."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from humpback_train.encoding import encode
from humpback_train.examples import build_training_data
from humpback_train.fit import total_steps
from humpback_train.settings import preset

from inference.prompts.chat import RESPONSE_HEAD, SEED_SYSTEM, render_prompt

pytestmark = pytest.mark.train


def test_training_rows_come_from_the_export_views_with_the_papers_system_prompt(seeded_warehouse) -> None:
    forward = build_training_data(seeded_warehouse, "forward")
    backward = build_training_data(seeded_warehouse, "backward")
    assert forward.rows.height == 99  # seeds only: nothing is curated yet
    # the backward model leaves out the seeds whose instruction carries its own input (sql/training/
    # backward_rows.sql): here a passage, a crossword clue and "the code below", and two greetings
    # whose blank line the rule takes for an input field
    assert backward.rows.height == 94 and set(backward.rows["row_id"]) < set(forward.rows["row_id"])
    assert forward.rows["prompt"].str.starts_with(f"### System:\n{SEED_SYSTEM}").all()
    assert forward.heldout.height == 5 and forward.train.height == 94
    # the backward model reads an output and writes its instruction
    seeds = forward.rows.join(backward.rows, on="row_id", suffix="_b")
    assert (
        seeds["completion_b"] == seeds["prompt"].str.extract(r"### Instruction:\n([\s\S]*)\n\n### Response")
    ).all()
    assert not backward.rows["prompt"].str.contains("### System").any()
    assert forward.data_hash != backward.data_hash


def test_the_loss_mask_covers_only_the_output_tokens(tokenizer) -> None:
    prompts = pl.Series([render_prompt("Name a primary colour.", SEED_SYSTEM), render_prompt("x " * 400)])
    completions = pl.Series(["Red.", "A short answer after a long prompt."])
    encoded = encode(tokenizer, prompts, completions, max_length=64)
    for ids, mask, completion in zip(encoded.input_ids, encoded.completion_mask, completions, strict=True):
        n_prompt = mask.index(1)
        assert set(mask[:n_prompt]) == {0} and set(mask[n_prompt:]) == {1}
        # the learned tokens are exactly the output and the end-of-sequence token
        assert ids[-1] == tokenizer.eos_token_id
        assert tokenizer.decode(ids[n_prompt:-1]) == completion
        assert tokenizer.decode(ids[:n_prompt], skip_special_tokens=True).endswith(RESPONSE_HEAD)
        assert len(ids) <= 64
    assert encoded.input_ids[0][: encoded.completion_mask[0].index(1)] == tokenizer(prompts[0])["input_ids"]
    assert (
        encoded.prompt_cut == 1 and encoded.completion_cut == 0
    )  # the long prompt lost text, not its output
    none = encode(tokenizer, pl.Series([], dtype=pl.String), pl.Series([], dtype=pl.String), max_length=64)
    assert none.input_ids == [] and none.n_tokens == 0, "no held-out rows: nothing to encode"
    long_output = encode(tokenizer, prompts[:1], pl.Series(["word " * 200]), max_length=64)
    assert long_output.completion_cut == 1 and sum(
        long_output.completion_mask[0]
    ) == 64 - long_output.completion_mask[0].index(1)


def test_the_completion_loss_is_the_models_own_loss_on_completion_tokens(base_model, tokenizer) -> None:
    """The loss gathers the completion positions and projects them in slices; it must equal transformers'
    own loss over the same labels, in value and in gradient, and stay close under bf16 autocast."""
    import torch
    from humpback_train import fit
    from humpback_train.base_model import load_model

    prompts = pl.Series(
        [render_prompt("Name a primary colour.", SEED_SYSTEM), render_prompt("Count to three.")]
    )
    completions = pl.Series(["Red, as in a fire engine.", "One, two, three."])
    encoded = encode(tokenizer, prompts, completions, max_length=64)
    width = max(len(ids) for ids in encoded.input_ids)
    ids = torch.tensor([row + [0] * (width - len(row)) for row in encoded.input_ids])
    mask = torch.tensor([[1] * len(row) + [0] * (width - len(row)) for row in encoded.input_ids])
    learned = torch.tensor([m + [0] * (width - len(m)) for m in encoded.completion_mask]).bool()
    labels = torch.where(learned, ids, torch.tensor(-100))
    inputs = {"input_ids": ids, "attention_mask": mask, "labels": labels}
    model = fit.prepare_model(load_model(base_model), preset("tiny"))
    model.eval()  # no LoRA dropout: both losses see the same network

    def loss_and_grad(compute) -> tuple[float, torch.Tensor]:
        model.zero_grad()
        loss = compute()
        loss.backward()
        lora = next(p for n, p in model.named_parameters() if "lora_B" in n)
        return loss.item(), lora.grad.clone()

    ours, our_grad = loss_and_grad(lambda: fit.completion_loss(model, inputs))
    theirs, their_grad = loss_and_grad(lambda: model(**inputs).loss)
    assert ours == pytest.approx(theirs, rel=1e-5) and 0 < ours < 20
    assert torch.allclose(our_grad, their_grad, rtol=1e-3, atol=1e-7)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        mixed = float(fit.completion_loss(model, inputs))
    assert mixed == pytest.approx(ours, rel=0.02)  # measured: within 0.1%
    fit.LOSS_CHUNK, chunk = 3, fit.LOSS_CHUNK  # many slices give the same sum
    try:
        assert float(fit.completion_loss(model, inputs)) == pytest.approx(ours, rel=1e-5)
    finally:
        fit.LOSS_CHUNK = chunk


@pytest.mark.model
@pytest.mark.timeout(600)  # about 80 s here: 8 steps, a GGUF export and both models' log-likelihoods
def test_training_lowers_the_loss_and_the_gguf_export_keeps_the_gain(
    seeded_warehouse, base_model, tokenizer, tmp_path: Path
) -> None:
    from humpback_train.base_model import load_model
    from humpback_train.export_gguf import export_gguf
    from humpback_train.fit import fit
    from humpback_train.loglik import gguf_loglik, torch_loglik

    from inference.engines import open_engine
    from inference.sampling import Sampling

    data = build_training_data(seeded_warehouse, "forward").train.head(8)
    settings = preset("tiny").with_overrides(max_steps=8, max_length=96, micro_batch_size=4, batch_size=4)
    rows = encode(tokenizer, data["prompt"], data["completion"], settings.max_length)
    model = load_model(base_model)
    before = torch_loglik(model, rows.input_ids, rows.completion_mask)
    result = fit(model, tokenizer, rows, settings, tmp_path / "work", show_progress=False)
    after = torch_loglik(result.model, rows.input_ids, rows.completion_mask)
    assert result.steps == 8 and len(result.losses) == 8
    assert after > before + 0.1, (before, after)  # the training outputs became likelier
    assert result.final_loss < result.first_loss

    state = {k: v.detach().float().numpy() for k, v in result.model.state_dict().items()}
    out = export_gguf(
        state, base_model.gguf_path, tmp_path / "m.gguf", gguf_type="q8_0", metadata={"role": "t"}
    )
    gguf_before = gguf_loglik(base_model.gguf_path, rows.input_ids, rows.completion_mask)
    gguf_after = gguf_loglik(out, rows.input_ids, rows.completion_mask)
    assert gguf_after > gguf_before + 0.1
    # faithful: llama.cpp sees about the same gain as PyTorch
    assert (gguf_after - gguf_before) == pytest.approx(after - before, rel=0.15)
    engine = open_engine(out, None, parallel=1, n_ctx=1024)
    try:
        [answer] = engine.complete(
            "", [render_prompt("Name a primary colour.", SEED_SYSTEM)], Sampling(temperature=0), [0], []
        )
    finally:
        engine.close()
    assert answer.completion_tokens > 0 and answer.text.strip()


def test_a_base_that_cannot_be_exported_is_refused_before_training(base_model) -> None:
    from humpback_train.export_gguf import check_exportable

    assert check_exportable(base_model.gguf_path) == "gemma3"
    with pytest.raises(ValueError, match="needs the base model's GGUF file"):
        check_exportable(None)  # a Hugging Face folder base has no GGUF metadata to copy


def test_a_small_seed_set_trains_at_least_min_steps_and_a_large_one_its_epochs() -> None:
    settings = preset("cpu")  # batch 8, one epoch, at least 24 steps
    assert total_steps(settings, 46) == 24  # the embedded seeds: 6 steps an epoch
    assert total_steps(settings, 3200) == 400  # the paper's seed set: its epoch
    assert total_steps(settings.with_overrides(max_steps=3), 46) == 3  # an explicit count wins
    assert total_steps(preset("tiny"), 46) == 12
