"""`humpback likelihood`: how likely each model finds held-out human answers, the measure of a trained
model that needs no judge.

For every (instruction, output) pair, the mean log-probability per token of the output given the
instruction, read in one prefill (no sampling) in the turn format humpback_train fine-tunes
(`inference/prompts/chat.py`) under a system prompt (by default the paper's two sentences together, as
`humpback eval` answers). The fixed head (system prompt and instruction label) stays in the engine's
cache, so a row costs its instruction and output. Only the output's tokens are scored, up to
`max_output_tokens`; the end-of-sequence token is not, as the engines read text.

Values are committed batch by batch in a work store keyed by the pair's place and text, the model and
the prompt, so a killed run resumes; `summarize` gives each model's mean with a bootstrap interval and
its paired difference against the first model, over the pairs every model could read.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from common.intervals import mean_interval, paired_difference_interval
from inference.engines.base import Engine, Piece
from inference.prompts.chat import FORMAT, INSTRUCTION_HEAD, RESPONSE_HEAD, SYSTEM_PROMPTS, system_head
from inference.prompts.common import prompt_version
from inference.runner import StageReport
from inference.score import with_pair_keys
from inference.stage import ModelStage, run_stage
from warehouse.schemas import REFERENCE_LIKELIHOODS
from warehouse.store import Warehouse, write_text_atomic

TABLE = "reference_likelihoods"
MAX_OUTPUT_TOKENS = 256  # enough for most reference answers; bounds the cost of a long one


@dataclass(frozen=True)
class LikelihoodPrompt:
    system: str | None
    prefix: str  # the fixed head every row shares
    max_output_tokens: int
    version: str

    @staticmethod
    def build(system: str = "combined", max_output_tokens: int = MAX_OUTPUT_TOKENS) -> LikelihoodPrompt:
        if system not in (*SYSTEM_PROMPTS, "none"):
            raise ValueError(
                f"unknown system prompt {system!r}; choose one of {', '.join(SYSTEM_PROMPTS)}, none"
            )
        if max_output_tokens < 1:
            raise ValueError(f"max_output_tokens must be at least 1, got {max_output_tokens}")
        text = SYSTEM_PROMPTS.get(system)
        prefix = f"{system_head(text)}{INSTRUCTION_HEAD}"
        version = prompt_version("likelihood-chat-v1", f"{FORMAT}|{prefix}|{RESPONSE_HEAD}")
        return LikelihoodPrompt(text, prefix, max_output_tokens, version)

    @property
    def params_json(self) -> str:
        return json.dumps(
            {"max_output_tokens": self.max_output_tokens, "system": self.system}, sort_keys=True
        )

    def pieces(self, instruction: str, output: str) -> list[Piece]:
        """The instruction closed by the response label (read), then the output (read and scored)."""
        limit = self.max_output_tokens
        return [
            Piece(f"{instruction.strip()}{RESPONSE_HEAD}"),
            Piece(output.strip(), scored=limit, read=limit),
        ]


@dataclass
class LikelihoodReport:
    stage: StageReport
    values: pl.DataFrame  # pair_key, status, loglik_per_token, output_tokens: one row per input pair


def measure(
    engine: Engine, prompt: LikelihoodPrompt, instructions: list[str], outputs: list[str]
) -> pl.DataFrame:
    """The values of a batch of pairs: status, loglik_per_token, output_tokens and the token counts."""
    rows = [prompt.pieces(i, o) for i, o in zip(instructions, outputs, strict=True)]
    read = engine.likelihood(prompt.prefix, rows)
    scored = [r.pieces[1] for r in read]
    return pl.DataFrame(
        {
            "status": ["ok" if s.scored else "no_output_tokens" for s in scored],
            "loglik_per_token": [s.logprob / s.scored if s.scored else None for s in scored],
            "output_tokens": [s.scored for s in scored],
            "prompt_tokens": [r.prompt_tokens for r in read],
            "uncached_tokens": [r.uncached_tokens for r in read],
            "completion_tokens": [0] * len(read),
            "input_truncated": [False] * len(read),  # an output past the cap is measured on its first tokens
        },
        schema_overrides={"loglik_per_token": pl.Float64, "output_tokens": pl.Int32},
    )


def reference_likelihoods(
    pairs: pl.DataFrame,
    engine: Engine,
    store: Warehouse,
    prompt: LikelihoodPrompt,
    *,
    batch_rows: int = 16,
    show_progress: bool = True,
) -> LikelihoodReport:
    """The values of every `ok` row of `pairs` (pair_key, instruction, output, status) under `engine`,
    computed where `store` does not hold them yet; rows that are not `ok` keep their status."""
    scope = f"{engine.model_id}|{prompt.version}|{prompt.params_json}"
    with store.exclusive():
        ok = pairs.filter(pl.col("status") == "ok").unique("pair_key", keep="first", maintain_order=True)
        done = _committed(store, engine.model_id, prompt)
        rows = ok.select("pair_key", "instruction", "output").with_columns(
            done=pl.col("pair_key").is_in(done["pair_key"].implode())
        )

        def compute(engine: Engine, chunk: pl.DataFrame) -> pl.DataFrame:
            values = measure(engine, prompt, chunk["instruction"].to_list(), chunk["output"].to_list())
            return values.with_columns(pair_key=chunk["pair_key"])

        stage = ModelStage(
            name="likelihood",
            table=TABLE,
            schema=REFERENCE_LIKELIHOODS,
            key="pair_key",
            scope=scope,
            prompt_version=prompt.version,
            params=prompt.params_json,
            compute=compute,
        )
        report = run_stage(
            store, engine, stage, rows=rows, batch_rows=batch_rows, show_progress=show_progress
        )
        committed = _committed(store, engine.model_id, prompt)
    values = pairs.select("pair_key", input_status="status").join(committed, on="pair_key", how="left")
    values = values.select(
        "pair_key",
        status=pl.when(pl.col("input_status") == "ok")
        .then(pl.col("status").fill_null("not_computed"))
        .otherwise(pl.col("input_status")),
        loglik_per_token="loglik_per_token",
        output_tokens="output_tokens",
    )
    return LikelihoodReport(stage=report, values=values)


def _committed(store: Warehouse, model_id: str, prompt: LikelihoodPrompt) -> pl.DataFrame:
    columns = ["pair_key", "status", "loglik_per_token", "output_tokens"]
    schema = pl.Schema(REFERENCE_LIKELIHOODS)
    if not store.has_table(TABLE):
        return pl.DataFrame(schema={c: schema[c] for c in columns})
    return (
        pl.scan_parquet(store.table_glob(TABLE), schema=schema)
        .filter(
            (pl.col("model") == model_id)
            & (pl.col("prompt_version") == prompt.version)
            & (pl.col("params") == prompt.params_json)
        )
        .select(columns)
        .unique("pair_key", keep="first")
        .collect()
    )


@dataclass
class ModelSummary:
    model: str  # as the user named it
    mean: float
    ci: tuple[float, float]
    diff_vs_first: float
    diff_ci: tuple[float, float]
    n: int


@dataclass
class Summary:
    models: list[ModelSummary]
    pairs: pl.DataFrame  # pair_key, status (ok only where every model read the pair), one column per model
    statuses: dict[str, int] = field(default_factory=dict)


def summarize(values: dict[str, pl.DataFrame]) -> Summary:
    """Each model's mean over the pairs every model read, with its interval, and its paired difference
    against the first model."""
    names = list(values)
    merged: pl.DataFrame | None = None
    for name, frame in values.items():
        renamed = frame.select(
            "pair_key", pl.col("status").alias(f"status:{name}"), pl.col("loglik_per_token").alias(name)
        )
        merged = (
            renamed
            if merged is None
            else merged.join(renamed, on="pair_key", how="left", maintain_order="left")
        )
    assert merged is not None
    statuses = [pl.col(f"status:{name}") for name in names]
    merged = merged.with_columns(
        status=pl.coalesce([pl.when(s != "ok").then(s) for s in statuses]).fill_null("ok")
    ).drop(f"status:{name}" for name in names)
    ok = merged.filter(pl.col("status") == "ok")
    first = ok[names[0]].to_numpy()
    models = []
    for name in names:
        column = ok[name].to_numpy()
        mean, low, high = mean_interval(column)
        diff, diff_low, diff_high = paired_difference_interval(column, first)
        models.append(ModelSummary(name, mean, (low, high), diff, (diff_low, diff_high), ok.height))
    counts = dict(merged["status"].value_counts(sort=True).iter_rows())
    return Summary(models=models, pairs=merged.select("pair_key", "status", *names), statuses=counts)


def summary_json(summary: Summary, ids: pl.DataFrame) -> dict[str, object]:
    """The `--out` document: the models, then every input pair with its status and values.
    `ids` (pair_key, line, item, id) places the pairs, with the input's ids as JSON text."""
    names = [m.model for m in summary.models]
    rows = ids.join(summary.pairs, on="pair_key", how="left", maintain_order="left")
    return {
        "models": [
            {
                "model": m.model,
                "mean": m.mean,
                "ci": list(m.ci),
                "diff_vs_first": m.diff_vs_first,
                "diff_ci": list(m.diff_ci),
                "n": m.n,
            }
            for m in summary.models
        ],
        "pairs": [
            {
                "id": json.loads(row["id"]) if row["id"] is not None else None,
                "line": row["line"],
                "item": row["item"],
                "status": row["status"],
                "values": {name: row[name] for name in names},
            }
            for row in rows.iter_rows(named=True)
        ],
    }


def work_dir(out: Path) -> Path:
    return out.parent / f".{out.name}.humpback-likelihood"


@dataclass
class Comparison:
    summary: Summary
    stages: list[StageReport]
    ids: pl.DataFrame  # pair_key, line, item, id: where each input pair came from


def compare_models(
    rows: pl.DataFrame,
    models: list[str],
    open_model: Callable[[str], Engine],
    store: Warehouse,
    prompt: LikelihoodPrompt,
    *,
    batch_rows: int = 16,
    show_progress: bool = True,
) -> Comparison:
    """Every model's values on `rows` (etl.seeds.loaders.PAIR_ROWS), one model open at a time, and
    their summary. `models` are named as the user gave them; `open_model` opens one."""
    if not models:
        raise ValueError("no model to measure")
    if len(set(models)) < len(models):
        raise ValueError(f"a model is named twice: {', '.join(models)}")
    keyed = with_pair_keys(rows)
    values, stages = {}, []
    for name in models:
        engine = open_model(name)
        try:
            report = reference_likelihoods(
                keyed, engine, store, prompt, batch_rows=batch_rows, show_progress=show_progress
            )
        finally:
            engine.close()
        report.stage.extra["model_name"] = name
        values[name] = report.values
        stages.append(report.stage)
    return Comparison(summarize(values), stages, keyed.select("pair_key", "line", "item", "id"))


def write_json(comparison: Comparison, out: Path) -> None:
    document = summary_json(comparison.summary, comparison.ids)
    write_text_atomic(json.dumps(document, indent=1, ensure_ascii=False) + "\n", out)
