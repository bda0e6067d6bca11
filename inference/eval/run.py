"""`humpback eval`: did the data help? Two answer sources on one prompt set, compared by a local judge.

1. The prompt file becomes a prompt set (`eval_prompts`).
2. Each side answers every prompt (`eval_answers`): a model in the chat format under the recorded
   system prompt, or a file of precomputed answers, as AlpacaEval compares against reference outputs.
3. The judge sees every pair in both orders (`eval_judgments`); its verdicts are read from answer-token
   probabilities.
4. `eval_outcomes` and `eval_summary` (sql/views/marts/) turn the verdicts into wins, ties and losses,
   the win rate with ties as half, and a bootstrap 95% interval, overall and per category.

Every stage commits in batches and skips what is committed, so a killed run resumes where it stopped,
and answers and judgments already made for another evaluation are reused.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import xxhash

import sql
from inference.engines.base import Engine
from inference.eval.answers import FileAnswers, default_sampling, generate_answers, load_answer_file
from inference.eval.judge import judge_pairs
from inference.eval.prompts import register_prompts
from inference.formats import resolve_prompt_format
from inference.prompts.judge import build_judge_prompt
from inference.runner import StageReport
from inference.sampling import Sampling
from warehouse.schemas import EVAL_RUNS
from warehouse.store import Warehouse
from warehouse.views import connect_views

OpenModel = Callable[[str | None, str | None], Engine]  # (model path, server URL) -> an open engine


@dataclass(frozen=True)
class Side:
    """Where one side's answers come from: a model file or server (neither: the embedded model), or a
    file of answers. `seed` seeds the model's sampling: comparing a model with itself takes two seeds."""

    model: str | None = None
    server: str | None = None
    answers: Path | None = None
    seed: int = 0

    @property
    def label(self) -> str:
        if self.answers is not None:
            return str(self.answers)
        name = self.server or self.model or "embedded"
        return f"{name} (seed {self.seed})"


@dataclass
class EvalReport:
    eval_id: str
    prompts: int
    repeated_prompts: int
    labels: tuple[str, str]
    judge: str
    stages: list[StageReport] = field(default_factory=list)
    files: dict[str, FileAnswers] = field(default_factory=dict)  # side -> the file's matching counts
    summary: pl.DataFrame | None = None  # eval_summary's rows for this run: overall, then per category
    seconds: float = 0.0


class _OneAtATime:
    """Keeps one model open: a side or judge that uses the same model as the step before reuses it."""

    def __init__(self, open_model: OpenModel) -> None:
        self._open = open_model
        self._key: tuple[str | None, str | None] | None = None
        self._engine: Engine | None = None

    def get(self, model: str | None, server: str | None) -> Engine:
        if self._key != (model, server) or self._engine is None:
            self.close()
            self._engine = self._open(model, server)
            self._key = (model, server)
        return self._engine

    def close(self) -> None:
        if self._engine is not None:
            self._engine.close()
        self._engine, self._key = None, None


def evaluate(
    warehouse: Warehouse,
    prompts_path: Path,
    side_a: Side,
    side_b: Side,
    open_model: OpenModel,
    *,
    judge_model: str | None = None,
    judge_server: str | None = None,
    judge_format: str = "auto",
    judge_system: str = "seed",
    system: str = "combined",
    sampling: Sampling | None = None,
    limit: int | None = None,
    batch_rows: int = 8,
    show_progress: bool = True,
) -> EvalReport:
    """Answer `prompts_path` with both sides, judge every pair in both orders, and summarise."""
    started = time.perf_counter()
    models = _OneAtATime(open_model)
    with warehouse.exclusive():
        prompts = register_prompts(warehouse, prompts_path, limit)
        answer_sets: list[str] = []
        stages: list[StageReport] = []
        files: dict[str, FileAnswers] = {}
        try:
            for name, side in (("a", side_a), ("b", side_b)):
                if side.answers is not None:
                    loaded = load_answer_file(warehouse, prompts, side.answers)
                    files[name] = loaded
                    answer_sets.append(loaded.answer_set)
                    continue
                side_sampling = replace(sampling or default_sampling(), seed=side.seed)
                answer_set, report = generate_answers(
                    warehouse,
                    models.get(side.model, side.server),
                    prompts,
                    label=side.label,
                    system=system,
                    sampling=side_sampling,
                    batch_rows=batch_rows,
                    show_progress=show_progress,
                )
                answer_sets.append(answer_set)
                stages.append(report)
            judge = models.get(judge_model, judge_server)
            chat = resolve_prompt_format(judge_format, warehouse, judge.model_id) == "chat"
            prompt = build_judge_prompt(chat=chat, system=judge_system)
            eval_id = xxhash.xxh3_128_hexdigest(
                "|".join([prompts.prompt_set, *answer_sets, judge.model_id, prompt.version]).encode()
            )
            run_row = {
                "eval_id": eval_id,
                "prompt_set": prompts.prompt_set,
                "prompts_source": prompts.source,
                "answers_a": answer_sets[0],
                "label_a": side_a.label,
                "answers_b": answer_sets[1],
                "label_b": side_b.label,
                "judge": judge.model_id,
                "judge_source": judge.model_source,
                "judge_prompt_version": prompt.version,
                "created_at": datetime.now(UTC),
            }
            table = pl.DataFrame([run_row]).to_arrow().cast(EVAL_RUNS)
            warehouse.append_part("eval_runs", table, eval_id)  # one file per run: a rerun replaces it
            stages.append(
                judge_pairs(
                    warehouse,
                    judge,
                    prompt,
                    prompt_set=prompts.prompt_set,
                    answers_a=answer_sets[0],
                    answers_b=answer_sets[1],
                    batch_rows=batch_rows,
                    show_progress=show_progress,
                )
            )
            judge_label = judge_server or judge_model or "embedded"
        finally:
            models.close()
    return EvalReport(
        eval_id=eval_id,
        prompts=prompts.prompts.height,
        repeated_prompts=prompts.repeated,
        labels=(side_a.label, side_b.label),
        judge=judge_label,
        stages=stages,
        files=files,
        summary=read_summary(warehouse, eval_id),
        seconds=time.perf_counter() - started,
    )


def read_summary(warehouse: Warehouse | Path | str, eval_id: str) -> pl.DataFrame:
    con = connect_views(warehouse)
    try:
        return pl.from_arrow(con.sql(sql.load("eval/summary"), params={"eval_id": eval_id}).to_arrow_table())
    finally:
        con.close()
