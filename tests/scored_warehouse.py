"""A warehouse with known scores: a real ETL run on the embedded sample, the embedded seeds, and
augmentations and scores written with chosen values, so that tests of the views and the report can check
arithmetic against numbers they know (the model stages themselves are tested in test_inference.py)."""

from __future__ import annotations

import pyarrow as pa

from etl.seeds.table import add_seeds
from warehouse.schemas import AUGMENTATIONS, SCORES
from warehouse.store import Warehouse
from warehouse.views import connect_views

# (score, expected score) of the first five kept segments in iterations 0 and 1
ITERATION_0 = [(5, 4.8), (4, 4.6), (4, 3.9), (2, 2.2), (1, 1.1)]
ITERATION_1 = [(5, 4.9), (3, 3.2), (4, 4.1), (4, 4.0), (1, 1.3)]


def provenance(batch: str) -> dict[str, object]:
    return {
        "model": "m",
        "model_source": "test",
        "prompt_version": "p",
        "params": "{}",
        "input_truncated": False,
        "batch_id": batch,
        "created_at": 0,
    }


def build_scored_warehouse(store: Warehouse) -> Warehouse:
    """`store` (a copy of the sample's ETL tables) with the embedded seeds and the chosen scores."""
    add_seeds(store)
    con = connect_views(store)
    kept = con.sql("SELECT segment_id FROM segments WHERE keep ORDER BY segment_id LIMIT 6").fetchall()
    con.close()
    augmentations, scores = [], []
    for iteration, values in ((0, ITERATION_0), (1, ITERATION_1)):
        for (segment_id,), (score, expected) in zip(kept, values, strict=False):
            aid = f"a{iteration}-{segment_id}"
            augmentations.append(
                {
                    "augmentation_id": aid,
                    "segment_id": segment_id,
                    "iteration": iteration,
                    "backward_model": "few_shot_base",
                    "instruction": f"Explain part {segment_id[:4]} of the page, please.",
                    "instruction_words": 6,
                    "status": "ok",
                    "sampling_seed": 0,
                    **provenance("a"),
                }
            )
            scores.append(
                {
                    "score_id": f"s{iteration}-{segment_id}",
                    "augmentation_id": aid,
                    "segment_id": segment_id,
                    "iteration": iteration,
                    "mode": "direct",
                    "score": score,
                    "expected_score": expected,
                    "probs": [0.2] * 5,
                    "parse_status": "ok",
                    "status": "ok",
                    **provenance("s"),
                }
            )
    # a sixth augmentation whose instruction failed cleaning: no score, in no curated set
    failed = {
        "augmentation_id": "bad",
        "segment_id": kept[5][0],
        "status": "empty",
        "instruction": None,
        "instruction_words": None,
    }
    augmentations.append(augmentations[0] | failed)
    store.append_part("augmentations", pa.Table.from_pylist(augmentations, schema=AUGMENTATIONS), "t")
    store.append_part("scores", pa.Table.from_pylist(scores, schema=SCORES), "t")
    return store
