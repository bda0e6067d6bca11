"""How well a score tells good pairs from bad: AUROC per kind of negative, and the precision and recall of
a curated set where every kind of negative is as frequent as the positives."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import polars as pl
from sklearn.metrics import roc_auc_score

from inference.curation.labelled import POSITIVE, versus


def auroc(frame: pl.DataFrame, score: str, kind: str) -> float | None:
    """The chance that a positive outscores a negative of `kind` (ties count half); rows without a
    score count as the lowest. None when either side is empty."""
    rows = versus(frame, kind)
    labels = (rows["kind"] == POSITIVE).to_numpy()
    if labels.all() or not labels.any():
        return None
    values = rows[score].cast(pl.Float64).fill_null(-np.inf).to_numpy()
    values = np.where(np.isfinite(values), values, np.nanmin(values[np.isfinite(values)], initial=0.0) - 1.0)
    return float(roc_auc_score(labels, values))


def selection(frame: pl.DataFrame, selected: str, kinds: Sequence[str]) -> dict[str, float | None]:
    """Precision and recall of the rows where `selected` is true, as if each kind of negative in `kinds`
    were as frequent as the positives: recall is the share of positives selected, and each kind adds
    its own selected share of false positives at the positives' count."""
    chosen = frame[selected].fill_null(False)
    kind = frame["kind"]
    positives = kind == POSITIVE
    if not positives.any():
        return {"precision": None, "recall": None}
    recall = float(chosen.filter(positives).mean())
    false_rate = sum(float(chosen.filter(kind == k).mean()) for k in kinds if (kind == k).any())
    precision = recall / (recall + false_rate) if recall + false_rate > 0 else None
    return {"precision": precision, "recall": recall}
