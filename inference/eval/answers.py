"""One side's answers to a prompt set: written by a model, or read from a file of precomputed answers.

A model answers in the format humpback_train fine-tunes (`inference/prompts/chat.py`) under a system
prompt, by default the paper's two sentences together (its best at inference); the system prompt, the
prompt version and the sampling are recorded with every answer. An answer set is the hash of all of
that, so an answer is computed once and reused by every evaluation that needs it.

A file of answers is JSONL: an `output`, `answer`, `response` or `completion` field (or FastChat's
`choices[0].turns[0]`), matched to the prompt by `question_id`/`id` when both have one, otherwise by
its `instruction`/`question`/`prompt` text. A prompt the file has no answer for is kept as `missing` and
not judged; an empty string is a real (empty) answer.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import xxhash

from common.jsonl import objects
from inference.engines.base import Engine
from inference.eval.prompts import PromptSet, prompt_id_expr
from inference.prompts.chat import FORMAT, INSTRUCTION_HEAD, RESPONSE_HEAD, SYSTEM_PROMPTS, system_head
from inference.prompts.common import prompt_version
from inference.runner import StageReport
from inference.sampling import Sampling, row_seed
from inference.stage import ModelStage, candidates, holding, run_stage
from warehouse.schemas import EVAL_ANSWERS
from warehouse.store import Warehouse

STOP = ("\n### ",)  # a model that was not fine-tuned goes on with a new "### Instruction:" turn
_ANSWER_FIELDS = ("output", "answer", "response", "completion")
_PROMPT_FIELDS = ("instruction", "question", "prompt")


def answer_id(prompt_id: str, answer_set: str) -> str:
    return xxhash.xxh3_128_hexdigest(f"{prompt_id}|{answer_set}".encode())


def default_sampling() -> Sampling:
    """The paper's sampling (T=0.7, top-p 0.9), with room for a whole answer."""
    return Sampling(temperature=0.7, top_p=0.9, max_new_tokens=384)


@dataclass(frozen=True)
class AnswerPrompt:
    system: str | None
    prefix: str
    version: str

    @staticmethod
    def build(system: str = "combined") -> AnswerPrompt:
        if system not in (*SYSTEM_PROMPTS, "none"):
            raise ValueError(
                f"unknown system prompt {system!r}; choose one of {', '.join(SYSTEM_PROMPTS)}, none"
            )
        text = SYSTEM_PROMPTS.get(system)
        prefix = f"{system_head(text)}{INSTRUCTION_HEAD}"
        return AnswerPrompt(
            text, prefix, prompt_version("answer-chat-v1", f"{FORMAT}|{prefix}|{RESPONSE_HEAD}")
        )

    def suffix(self, instruction: str) -> str:
        return f"{instruction.strip()}{RESPONSE_HEAD}"


def model_answer_set(model: str, prompt: AnswerPrompt, sampling: Sampling) -> str:
    return xxhash.xxh3_128_hexdigest(
        f"{model}|{prompt.system}|{prompt.version}|{sampling.to_json()}".encode()
    )


def generate_answers(
    warehouse: Warehouse,
    engine: Engine,
    prompts: PromptSet,
    *,
    label: str,
    system: str = "combined",
    sampling: Sampling | None = None,
    batch_rows: int = 8,
    show_progress: bool = True,
) -> tuple[str, StageReport]:
    """Answer every prompt of the set this model has not answered under these settings yet."""
    prompt = AnswerPrompt.build(system)
    sampling = sampling or default_sampling()
    answer_set = model_answer_set(engine.model_id, prompt, sampling)

    def compute(engine: Engine, chunk: pl.DataFrame) -> pl.DataFrame:
        seeds = [row_seed(sampling.seed, p) for p in chunk["prompt_id"]]
        suffixes = [prompt.suffix(text) for text in chunk["instruction"]]
        outputs = engine.complete(prompt.prefix, suffixes, sampling, seeds, STOP)
        answers = [o.text.strip() for o in outputs]
        return pl.DataFrame(
            {
                "answer_id": chunk["answer_id"],
                "prompt_id": chunk["prompt_id"],
                "answer_set": answer_set,
                "answer_set_label": label,
                "answer": answers,
                "status": [
                    "empty" if not a else ("ok" if o.stopped else "unfinished")
                    for a, o in zip(answers, outputs, strict=True)
                ],
                "origin": "model",
                "system": prompt.system,
                "sampling_seed": seeds,
                "prompt_tokens": [o.prompt_tokens for o in outputs],
                "uncached_tokens": [o.uncached_tokens for o in outputs],
                "completion_tokens": [o.completion_tokens for o in outputs],
                "input_truncated": False,
            },
            schema_overrides={"system": pl.String},
        )

    stage = ModelStage(
        name=f"answers ({Path(label).name})",
        table="eval_answers",
        schema=EVAL_ANSWERS,
        key="answer_id",
        scope=answer_set,
        prompt_version=prompt.version,
        params=sampling.to_json(),
        compute=compute,
    )
    with holding(warehouse):  # from the pending query to the last batch
        params = {"prompt_set": prompts.prompt_set, "answer_set": answer_set}
        prompts_done = candidates(warehouse, "eval/answers_to_generate", params).with_columns(
            answer_id=pl.col("prompt_id").map_elements(
                lambda p: answer_id(p, answer_set), return_dtype=pl.String
            )
        )
        report = run_stage(
            warehouse, engine, stage, rows=prompts_done, batch_rows=batch_rows, show_progress=show_progress
        )
    return answer_set, report


def _read_answer_file(path: Path) -> pl.DataFrame:
    rows = []
    for number, record in objects(path):
        answer = next((record[f] for f in _ANSWER_FIELDS if isinstance(record.get(f), str)), None)
        choices = record.get("choices")
        if answer is None and isinstance(choices, list) and choices and isinstance(choices[0], dict):
            turns = choices[0].get("turns")
            answer = turns[0] if isinstance(turns, list) and turns and isinstance(turns[0], str) else None
        if answer is None:
            raise ValueError(f"{path}:{number}: no output, answer, response, completion or choices field")
        key = record.get("question_id", record.get("id"))
        text = next((record[f] for f in _PROMPT_FIELDS if isinstance(record.get(f), str)), None)
        if key is None and text is None:
            raise ValueError(f"{path}:{number}: no question_id, id, instruction, question or prompt to match")
        rows.append({"source_id": None if key is None else str(key), "text": text, "answer": answer})
    schema = {"source_id": pl.String, "text": pl.String, "answer": pl.String}
    return pl.DataFrame(rows, schema=schema)


@dataclass
class FileAnswers:
    answer_set: str
    matched: int
    missing: int  # prompts the file has no answer for
    unmatched: int  # file records that match no prompt of the set


def load_answer_file(warehouse: Warehouse, prompts: PromptSet, path: Path) -> FileAnswers:
    """One answer per prompt of the set from `path`, written to `eval_answers` (replacing an earlier
    load of the same file for the same set)."""
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    answer_set = f"file:{digest}"
    records = _read_answer_file(path).with_row_index("record")
    by_id = records.filter(pl.col("source_id").is_not_null())
    by_text = records.filter(pl.col("source_id").is_null()).with_columns(
        prompt_id=prompt_id_expr(pl.col("text"))
    )
    table = prompts.prompts
    matched = pl.concat(
        [
            table.join(by_id.select("source_id", "record", "answer"), on="source_id", how="inner"),
            table.join(by_text.select("prompt_id", "record", "answer"), on="prompt_id", how="inner"),
        ]
    ).unique("prompt_id", keep="first", maintain_order=True)  # the first answer the file gives wins
    rows = table.join(
        matched.select("prompt_id", "record", "answer"), on="prompt_id", how="left"
    ).with_columns(
        answer_id=pl.col("prompt_id").map_elements(
            lambda p: answer_id(p, answer_set), return_dtype=pl.String
        ),
        status=pl.when(pl.col("record").is_null())
        .then(pl.lit("missing"))
        .when(pl.col("answer").str.strip_chars() == "")
        .then(pl.lit("empty"))
        .otherwise(pl.lit("ok")),
        answer_set=pl.lit(answer_set),
        answer_set_label=pl.lit(str(path)),
        origin=pl.lit("file"),
        system=pl.lit(None, dtype=pl.String),
        sampling_seed=pl.lit(None, dtype=pl.Int64),
        model=pl.lit(answer_set),
        model_source=pl.lit(str(path)),
        prompt_version=pl.lit("answers-file"),
        params=pl.lit("{}"),
        prompt_tokens=pl.lit(None, dtype=pl.Int32),
        uncached_tokens=pl.lit(None, dtype=pl.Int32),
        completion_tokens=pl.lit(None, dtype=pl.Int32),
        input_truncated=pl.lit(False),
        batch_id=pl.lit(f"{prompts.prompt_set}-{digest[:16]}"),
        created_at=pl.lit(datetime.now(UTC)),
    )
    part = f"file-{prompts.prompt_set}-{digest[:16]}"
    warehouse.append_part("eval_answers", rows.select(EVAL_ANSWERS.names).to_arrow().cast(EVAL_ANSWERS), part)
    used = matched["record"].n_unique()
    return FileAnswers(
        answer_set=answer_set,
        matched=matched.height,
        missing=table.height - matched.height,
        unmatched=records.height - used,
    )
