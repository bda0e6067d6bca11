"""Train one model of the loop end to end: its rows from the warehouse, the fine-tuning, the GGUF export,
the held-out log-likelihoods that show the export is faithful, and its row in the `models` table.

A model is known by its artifact key (role, base model, training rows, settings, prompt format): a run
whose key is registered with a GGUF on disk reuses it instead of training again.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import xxhash

from humpback_train.base_model import BaseModel, load_model, load_tokenizer, resolve_base
from humpback_train.encoding import encode
from humpback_train.examples import TrainingData, build_training_data
from humpback_train.export_gguf import check_exportable, export_gguf
from humpback_train.fit import fit
from humpback_train.loglik import gguf_loglik, torch_loglik
from humpback_train.registry import find, model_files_dir, register
from humpback_train.settings import TrainSettings
from inference.models import file_sha256
from inference.prompts.chat import FORMAT
from warehouse.store import Warehouse

# The iteration of a model trained outside the loop (an experiment, benchmarks/data_value.py): the marts
# count a registered forward model's rows only at its own iteration (active_models), and the loop's are 0 up.
OUTSIDE_THE_LOOP = -1


def model_name(role: str, iteration: int) -> str:
    return "M_yx" if role == "backward" else f"M{iteration}"


def artifact_key(role: str, base: BaseModel, data: TrainingData, settings: TrainSettings) -> str:
    parts = [role, base.sha256, data.data_hash, settings.to_json(), FORMAT]
    return xxhash.xxh3_128_hexdigest("|".join(parts).encode())


def train_model(
    warehouse: Warehouse,
    role: str,
    iteration: int = 0,
    *,
    settings: TrainSettings,
    base: BaseModel | str | Path | None = None,
    k: float = 4,
    mode: str = "direct",
    data: TrainingData | None = None,
    name: str | None = None,
    show_progress: bool = True,
    log=print,
) -> dict[str, object]:
    """The backward model (role "backward", trained on the swapped seed pairs), or the forward model M_t
    (trained on the seed pairs and A_k of iteration t - 1; M0 on the seeds alone). Returns its row.
    `data` and `name`: other rows and the model's name, for an experiment (benchmarks/data_value.py)."""
    base = base if isinstance(base, BaseModel) else resolve_base(base)
    name = name or model_name(role, iteration)
    data = data or build_training_data(
        warehouse,
        role,
        after_iteration=iteration - 1 if role == "forward" else -1,
        k=k,
        mode=mode,
        heldout_fraction=settings.heldout_fraction,
        heldout_max=settings.heldout_max,
    )
    key = artifact_key(role, base, data, settings)
    if (done := find(warehouse, key, role, iteration)) is not None:
        log(f"{name}: already trained ({done['gguf_path']})")
        return done | {"reused": True}
    if (same := find(warehouse, key, role)) is not None:  # e.g. M1 when A^(1) is empty: M0's weights
        log(f"{name}: same base, rows and settings as {same['name']}; registering its GGUF")
        return register(warehouse, same | {"name": name, "iteration": iteration}) | {"reused": True}

    check_exportable(base.gguf_path)
    log(
        f"{name}: training ({settings.method}) on {data.train.height:,} rows "
        f"({data.count('seed', True):,} seed, {data.count('augmented', True):,} augmented), "
        f"{data.heldout.height:,} held out"
    )
    tokenizer = load_tokenizer(base)
    train = encode(tokenizer, data.train["prompt"], data.train["completion"], settings.max_length)
    heldout = encode(tokenizer, data.heldout["prompt"], data.heldout["completion"], settings.max_length)
    files = model_files_dir(warehouse)
    work_dir = files / ".work" / key
    model = load_model(base, dropout=settings.dropout if settings.method == "full" else None)
    loglik_base = (
        torch_loglik(model, heldout.input_ids, heldout.completion_mask) if heldout.input_ids else None
    )
    result = fit(model, tokenizer, train, settings, work_dir, show_progress=show_progress)
    loglik_trained = (
        torch_loglik(result.model, heldout.input_ids, heldout.completion_mask) if heldout.input_ids else None
    )
    started = time.perf_counter()
    state = {k_: v.detach().float().cpu().numpy() for k_, v in result.model.state_dict().items()}
    out = files / f"{name}-{key[:16]}.gguf"
    export_gguf(
        state,
        base.gguf_path,
        out,
        gguf_type=settings.gguf_type,
        tied_embeddings=bool(getattr(result.model.config, "tie_word_embeddings", True)),
        metadata={"name": name, "role": role, "iteration": iteration, "prompt_format": FORMAT, "key": key},
    )
    del state, model, result.model
    seconds = time.perf_counter() - started
    log(f"{name}: exported {out.name} ({out.stat().st_size / 2**20:,.0f} MiB) in {seconds:.0f} s")
    gguf_base = gguf_trained = None
    if heldout.input_ids:
        gguf_base = gguf_loglik(base.gguf_path, heldout.input_ids, heldout.completion_mask)
        gguf_trained = gguf_loglik(out, heldout.input_ids, heldout.completion_mask)
    shutil.rmtree(work_dir, ignore_errors=True)
    row = register(
        warehouse,
        {
            "gguf_sha256": file_sha256(out),
            "name": name,
            "role": role,
            "iteration": iteration,
            "artifact_key": key,
            "base_model": base.sha256,
            "base_source": base.source,
            "train_data": data.source,
            "train_data_hash": data.data_hash,
            "train_rows": data.train.height,
            "seed_rows": data.count("seed", train_only=True),
            "augmented_rows": data.count("augmented", train_only=True),
            "heldout_rows": data.heldout.height,
            "method": settings.method,
            "settings": json.dumps(
                json.loads(settings.to_json())
                | {"prompt_cut": train.prompt_cut, "completion_cut": train.completion_cut},
                sort_keys=True,
            ),
            "prompt_format": FORMAT,
            "steps": result.steps,
            "train_tokens": result.train_tokens,
            "train_seconds": result.seconds,
            "first_loss": result.first_loss,
            "final_loss": result.final_loss,
            "heldout_loglik_base_torch": loglik_base,
            "heldout_loglik_torch": loglik_trained,
            "heldout_loglik_base_gguf": gguf_base,
            "heldout_loglik_gguf": gguf_trained,
            "gguf_path": str(out),
            "gguf_type": settings.gguf_type,
        },
    )
    return row | {"reused": False}
