"""`humpback score`: rate any instruction dataset, not only backtranslated segments, into one file.

Every input row comes out: a pair with its score and signals, or a record that gave no pair with the
reason as its status. Results are committed batch by batch into a work folder beside the output
(`.<name>.humpback-score/`), keyed by a hash of each row's place and text, so a killed run resumes
where it stopped; the output file is written at the end, at once, and the work folder removed.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl
import pyarrow as pa
import xxhash

from inference.curation.calibration import Calibration
from inference.curation.rater import DEFAULT_MODE, make_rater
from inference.curation.signals import LIKELIHOOD_TOKENS
from inference.engines.base import Engine
from inference.runner import StageReport
from inference.stage import ModelStage, run_stage
from warehouse.schemas import PAIR_SCORES
from warehouse.store import Warehouse, write_parquet_atomic, write_text_atomic

OUTPUT_FORMATS = (".jsonl", ".parquet")
TABLE = "pair_scores"
_FIRST = [
    "id",
    "line",
    "item",
    "status",
    "score",
    "expected_score",
    "p_good",
    "mode",
    "instruction",
    "output",
]


@dataclass
class ScoreFileReport:
    out: Path
    rows: int = 0  # input rows: pairs, and records that gave none
    statuses: dict[str, int] = field(default_factory=dict)  # of the output rows
    stage: StageReport | None = None
    calibration: Calibration | None = None
    calibration_fitted: bool = False


def work_dir(out: Path) -> Path:
    return out.parent / f".{out.name}.humpback-score"


def with_pair_keys(rows: pl.DataFrame) -> pl.DataFrame:
    """`rows` (etl.seeds.loaders.PAIR_ROWS) with `pair_key`: XXH3-128 of each row's line, item and
    texts, the key under which a rerun finds the row's results."""
    key = pl.concat_str(
        [pl.col("line"), pl.col("item"), pl.col("instruction").fill_null(""), pl.col("output").fill_null("")],
        separator="\x00",
    )
    return rows.with_columns(
        pair_key=key.map_batches(
            lambda keys: pl.Series([xxhash.xxh3_128_hexdigest(k.encode()) for k in keys])
        )
    )


def score_file(
    rows: pl.DataFrame,
    out: Path | str,
    engine: Engine,
    *,
    seeds: pl.DataFrame,
    mode: str = DEFAULT_MODE,
    likelihood_tokens: int = LIKELIHOOD_TOKENS,
    batch_rows: int = 32,
    show_progress: bool = True,
) -> ScoreFileReport:
    """Score the `ok` rows of `rows` (etl.seeds.loaders.PAIR_ROWS) and write every row to `out`
    (JSONL or Parquet, by its extension). `seeds` (seed_id, instruction, output) calibrate the
    calibrated mode."""
    out = Path(out)
    if out.suffix not in OUTPUT_FORMATS:
        raise ValueError(f"the output must end in {' or '.join(OUTPUT_FORMATS)}, got {out.name}")
    keyed = with_pair_keys(rows)
    report = ScoreFileReport(out=out, rows=keyed.height)
    rater, report.calibration_fitted = make_rater(
        engine, mode, seeds=seeds, likelihood_tokens=likelihood_tokens, show_progress=show_progress
    )
    report.calibration = rater.calibration
    scope = f"{engine.model_id}|{rater.version}|{mode}"
    store = Warehouse(work_dir(out) / xxhash.xxh3_64_hexdigest(scope.encode()))
    with store.exclusive():
        ok = keyed.filter(pl.col("status") == "ok")
        rows = ok.with_columns(done=pl.col("pair_key").is_in(_committed(store)["pair_key"].implode()))

        def compute(engine: Engine, chunk: pl.DataFrame) -> pl.DataFrame:
            rated = rater.frame(engine, chunk["instruction"].to_list(), chunk["output"])
            return rated.with_columns(pair_key=chunk["pair_key"])

        stage = ModelStage(
            name=f"score ({mode})",
            table=TABLE,
            schema=PAIR_SCORES,
            key="pair_key",
            scope=scope,
            prompt_version=rater.version,
            params=rater.params_json,
            compute=compute,
        )
        report.stage = run_stage(
            store, engine, stage, rows=rows, batch_rows=batch_rows, show_progress=show_progress
        )
        scored = _committed(store)
    result = _assemble(keyed, scored)
    report.statuses = dict(result["status"].value_counts(sort=True).iter_rows())
    _write(result, out)
    shutil.rmtree(work_dir(out), ignore_errors=True)  # the output now holds every result
    return report


def _committed(store: Warehouse) -> pl.DataFrame:
    if not store.has_table(TABLE):
        return pl.DataFrame(schema=pl.Schema(PAIR_SCORES))
    return pl.read_parquet(store.table_glob(TABLE), schema=pl.Schema(PAIR_SCORES)).unique(
        "pair_key", keep="first"
    )


def _assemble(rows: pl.DataFrame, scored: pl.DataFrame) -> pl.DataFrame:
    """Every input row, in input order, with its results; a pair the model could not score keeps the
    rating's status (`unscored`)."""
    joined = rows.join(scored.drop("batch_id", "created_at"), on="pair_key", how="left", suffix="_rating")
    joined = joined.with_columns(
        status=pl.when(pl.col("status") == "ok").then(pl.col("status_rating")).otherwise(pl.col("status"))
    ).drop("status_rating", "pair_key")
    rest = [c for c in joined.columns if c not in _FIRST]
    return joined.select(*_FIRST, *rest).sort("line", "item")


def _write(result: pl.DataFrame, out: Path) -> None:
    """The rows as JSONL or Parquet; each `id` as the input gave it (a number stays a number)."""
    if out.suffix == ".jsonl":
        # `id` holds each id as JSON text already: it opens every line Polars writes for the rest
        rest = pl.Series(result.drop("id").write_ndjson().splitlines(), dtype=pl.String)
        lines = pl.select(
            pl.concat_str(pl.lit('{"id": '), result["id"].fill_null("null"), pl.lit(", "), rest.str.slice(1))
        ).to_series()
        write_text_atomic("".join(f"{line}\n" for line in lines), out)
        return
    ids = [None if i is None else json.loads(i) for i in result["id"]]
    try:
        id_column = pa.array(ids)
    except (pa.ArrowInvalid, pa.ArrowTypeError):  # ids of mixed types: as JSON text
        id_column = pa.array(result["id"].to_list(), pa.string())
    table = result.drop("id").to_arrow()
    write_parquet_atomic(table.add_column(0, "id", id_column), out)
