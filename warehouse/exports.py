"""Training files from the warehouse: the seed set and a curated set, in chat or alpaca JSONL.

The rows and their JSON come from SQL (the `export_pairs` view, `sql/exports/*.sql`), with the
paper's system prompts, which tell the model where an example came from: seed rows "Answer in the
style of an AI Assistant.", augmented rows "Answer with knowledge from web search.". Curated
Self-Instruct pairs can join them (origin `self_instruct`, with the seed rows' system prompt).

Decontamination: a row is dropped when its instruction shares a run of `NGRAM` words (lowercased,
punctuation dropped) with an evaluation prompt, or contains the whole of a prompt shorter than that. The
evaluation prompts are those of `--exclude` and every prompt `humpback eval` has used in the warehouse
(`eval_prompts`); the training package drops the same rows.
Eight words is long enough that common phrases ("what is the difference between") do not match, and
short enough that a lightly edited copy of a prompt still does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import polars as pl

import sql
from common.jsonl import objects
from warehouse.store import Warehouse
from warehouse.views import connect_views

FORMATS = ("chat", "alpaca")
NGRAM = 8
_PROMPT_FIELDS = ("instruction", "question", "prompt", "text")


@dataclass
class ExportReport:
    path: Path
    rows: int = 0
    by_source: dict[str, int] = field(default_factory=dict)
    excluded: int = 0  # rows dropped because their instruction overlaps an evaluation prompt
    excluded_examples: list[str] = field(default_factory=list)


def _words(texts: pl.Series) -> pl.Series:
    """Each text as its list of lowercased words, punctuation dropped."""
    return texts.str.to_lowercase().str.extract_all(r"[a-z0-9]+")


def _ngrams(words: pl.Series, n: int) -> pl.DataFrame:
    """(row, gram): every run of n words of every row, as one string."""
    exploded = pl.DataFrame({"word": words}).with_row_index("row").explode("word")
    gram = pl.concat_str([pl.col("word").shift(-i).over("row") for i in range(n)], separator=" ")
    return exploded.select("row", gram=gram).drop_nulls("gram")  # a run past a row's end is null


def read_prompt_file(path: Path | str) -> pl.DataFrame:
    """Prompts from JSONL, one row per line: the prompt (an instruction, question, prompt or text field,
    or the first of `turns`, the Vicuna and MT-Bench shape), its `question_id` or `id`, its `category`
    and `file:line`."""
    rows = []
    for number, record in objects(Path(path)):
        turns = record.get("turns")
        found = turns[0] if isinstance(turns, list) and turns and isinstance(turns[0], str) else None
        found = found or next((record[f] for f in _PROMPT_FIELDS if isinstance(record.get(f), str)), None)
        if not found or not found.strip():
            raise ValueError(f"{path}:{number}: no instruction, question, prompt, text or turns field")
        source_id = record.get("question_id", record.get("id"))
        category = record.get("category")
        rows.append(
            {
                "source_id": None if source_id is None else str(source_id),
                "category": category if isinstance(category, str) and category else None,
                "instruction": found,
                "source": f"{path}:{number}",
            }
        )
    schema = {"source_id": pl.String, "category": pl.String, "instruction": pl.String, "source": pl.String}
    return pl.DataFrame(rows, schema=schema).with_row_index("position").cast({"position": pl.Int32})


def load_prompts(path: Path | str) -> list[str]:
    """The prompts of a JSONL prompt file (see `read_prompt_file`)."""
    return read_prompt_file(path)["instruction"].to_list()


def overlaps(instructions: pl.Series, prompts: list[str], n: int = NGRAM) -> pl.Series:
    """For each instruction, whether it shares an n-word run with a prompt (or contains a short one)."""
    prompt_words = _words(pl.Series(prompts, dtype=pl.String))
    long = prompt_words.list.len() >= n
    prompt_grams = _ngrams(prompt_words.filter(long), n).select("gram").unique()
    hits = _ngrams(_words(instructions), n).join(prompt_grams, on="gram", how="semi").select("row").unique()
    shared_run = (
        pl.DataFrame({"row": pl.int_range(len(instructions), eager=True, dtype=pl.UInt32)})
        .join(hits.with_columns(hit=pl.lit(True)), on="row", how="left")["hit"]
        .fill_null(False)
    )
    short = prompt_words.filter(~long & (prompt_words.list.len() > 0))
    padded = lambda words: " " + words.list.join(" ") + " "  # noqa: E731 - whole words only
    if short.is_empty():
        return shared_run.alias("overlaps")
    contains_short = padded(_words(instructions)).str.contains_any(padded(short).to_list())
    return (shared_run | contains_short.fill_null(False)).alias("overlaps")


def evaluation_prompts(con: duckdb.DuckDBPyConnection) -> list[str]:
    """The prompts every evaluation of this warehouse used (a connection with the views)."""
    return con.sql(sql.load("exports/evaluation_prompts")).to_arrow_table()["instruction"].to_pylist()


def contaminated(
    instructions: pl.Series, con: duckdb.DuckDBPyConnection, exclude: Path | None = None
) -> pl.Series:
    """Whether each instruction overlaps an evaluation prompt of the warehouse or of `exclude`."""
    prompts = evaluation_prompts(con) + (load_prompts(exclude) if exclude is not None else [])
    if not prompts:
        return pl.Series("overlaps", [False] * len(instructions), dtype=pl.Boolean)
    return overlaps(instructions, prompts)


def export_training(
    warehouse: Warehouse | Path | str,
    out: Path,
    *,
    iteration: int = 0,
    min_score: float = 4,
    fmt: str = "chat",
    mode: str = "direct",
    exclude: Path | None = None,
    self_instruct: bool = False,
) -> ExportReport:
    """Write the seed set and A_k of `iteration` (k = `min_score`) as JSONL to `out`; with
    `self_instruct`, also the generated Self-Instruct pairs that meet the same k (origin self_instruct)."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    params = {"iteration": iteration, "k": float(min_score), "mode": mode, "self_instruct": self_instruct}
    report = ExportReport(path=out)
    con = connect_views(warehouse)
    try:
        pairs = pl.from_arrow(con.sql(sql.load("exports/training_rows"), params=params).to_arrow_table())
        hit = contaminated(pairs["instruction"], con, exclude)
        excluded = pairs.filter(hit)["row_id"].to_list()
        report.excluded = len(excluded)
        report.excluded_examples = pairs.filter(hit)["instruction"].head(5).to_list()
        pairs = pairs.filter(~hit)
        lines = con.sql(sql.load(f"exports/{fmt}"), params=params | {"excluded": excluded}).to_arrow_table()
    finally:
        con.close()
    report.rows = pairs.height
    report.by_source = dict(pairs.group_by("origin").len().sort("origin").iter_rows())
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_text("".join(f"{line}\n" for line in lines["line"].to_pylist()), encoding="utf-8")
    tmp.replace(out)
    return report
