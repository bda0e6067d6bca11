"""The calibrated scoring mode's model: from a pair's signals to the probability that it is a good pair,
and from that probability to the paper's 1-5 scale. Fitted on the user's own seed pairs.

The seed pairs are the only gold data the method assumes. They are the positives; the negatives are
made from them (`negatives.make_negatives`, calibration family: mismatched, boilerplate, truncated,
chatter, echo). Every kind of negative is weighted to count as much as all positives together, so the
probability `p_good` is the chance of a good pair where each kind of bad pair is as common as good
ones. A gradient-boosted ensemble of small trees (scikit-learn) fits it: the kinds of bad pair fail
on different signals (a mismatched answer has a low likelihood gain, an echo a high one), which no
single linear weighting of the signals can follow.

The fitted ensemble is stored as JSON (the trees' split features, thresholds and leaf values) and
applied here with NumPy, so a calibration is a plain, inspectable record: no pickled code. Its
version is a hash of that record; every score it gives carries it.

Scores: `expected_score` rises piecewise linearly with `p_good` through the points of `LEVELS`
(0.25 is 2, 0.5 is 3, 0.75 is 4, 0.9 is 5), and `score` is its whole part. A_4 keeps pairs at least
75% likely to be good, A_4.5 82.5%, A_5 90%.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import xxhash
from sklearn.ensemble import GradientBoostingClassifier

from inference.curation.metrics import auroc, selection
from inference.curation.negatives import KINDS, make_negatives
from inference.curation.signals import text_signals

RECIPE = "calibrated-v2"  # v2: truncated negatives stop mid-sentence; first person at the edges
FEATURES = (
    "rubric_expected",  # the rubric's expected score, from the five digits' probabilities
    "gain",  # log p(answer | request) - log p(answer), per token of the answer's first tokens
    "logp_answer_per_token",  # log p(answer) per token: how predictable the text is on its own
    "logp_end",  # log p(the answer ends here | request, answer): the closing line
    "logp_line_end",  # and its first token, the line break after the answer
    "question_overlap",
    "request_in_answer",
    "first_person",
    "short_lines",
)
# p_good where each score starts; chosen on the tune split of benchmarks/curation_quality.py, where
# p_good >= 0.75 kept 51% of the good pairs at a precision of 0.96 calibrated on the embedded seeds
# (each kind of bad pair as common as good ones); 0.70 to 0.90 all gave a precision of 0.91 to 0.95
LEVELS = ((0.0, 1.0), (0.25, 2.0), (0.5, 3.0), (0.75, 4.0), (0.9, 5.0), (1.0, 5.0))
MAX_SEED_PAIRS = 64  # seeds beyond this are sampled by id: the fit reads about six rows per seed
FOLDS = 5
CACHE_VARIABLE = "HUMPBACK_CACHE_DIR"  # where fitted calibrations are kept; default ~/.cache/humpback
_ENSEMBLE = {
    "n_estimators": 150,
    "max_depth": 3,
    "learning_rate": 0.05,
    "min_samples_leaf": 8,
    "subsample": 0.8,
}


def feature_frame(signals: pl.DataFrame) -> pl.DataFrame:
    """The features of `FEATURES` from a frame with the model signals (signals.MODEL_COLUMNS) and the
    pair's `instruction` and `answer`."""
    text = text_signals(pl.col("instruction"), pl.col("answer"))
    return signals.select(
        rubric_expected=pl.col("probs").list.eval(pl.element() * (pl.int_range(pl.len()) + 1)).list.sum(),
        gain=pl.col("logp_answer_given_instruction_per_token") - pl.col("logp_answer_per_token"),
        logp_answer_per_token=pl.col("logp_answer_per_token"),
        logp_end=pl.col("logp_end"),
        logp_line_end=pl.col("logp_line_end"),
        question_overlap=text["question_overlap"],
        request_in_answer=text["request_in_answer"],
        first_person=text["first_person"],
        short_lines=text["short_lines"],
    ).fill_null(0.0)


def _tree_values(tree: dict[str, list], x: np.ndarray) -> np.ndarray:
    """Leaf values of one exported tree for rows `x` (float32, as scikit-learn compares them)."""
    left, right = np.asarray(tree["left"]), np.asarray(tree["right"])
    feature, threshold = np.asarray(tree["feature"]), np.asarray(tree["threshold"])
    node = np.zeros(len(x), dtype=np.int64)
    rows = np.arange(len(x))
    while True:
        inner = left[node] >= 0
        if not inner.any():
            return np.asarray(tree["value"])[node]
        goes_left = x[rows, np.maximum(feature[node], 0)] <= threshold[node]
        node = np.where(inner, np.where(goes_left, left[node], right[node]), node)


def ensemble_logit(ensemble: dict[str, Any], x: np.ndarray) -> np.ndarray:
    """The ensemble's log-odds for the rows of `x`: its base value plus the scaled sum of its trees."""
    x32 = np.asarray(x, dtype=np.float32)
    total = np.full(len(x32), float(ensemble["base"]))
    for tree in ensemble["trees"]:
        total += ensemble["learning_rate"] * _tree_values(tree, x32)
    return total


def _export(model: GradientBoostingClassifier, x: np.ndarray) -> dict[str, Any]:
    trees = []
    for estimator in model.estimators_[:, 0]:
        tree = estimator.tree_
        trees.append(
            {
                "left": tree.children_left.tolist(),
                "right": tree.children_right.tolist(),
                "feature": tree.feature.tolist(),
                "threshold": tree.threshold.tolist(),
                "value": tree.value[:, 0, 0].tolist(),
            }
        )
    ensemble: dict[str, Any] = {"base": 0.0, "learning_rate": float(model.learning_rate), "trees": trees}
    expected = model.decision_function(x)
    ensemble["base"] = float(expected[0] - ensemble_logit(ensemble, x[:1])[0])
    if not np.allclose(ensemble_logit(ensemble, x), expected, atol=1e-9):
        raise RuntimeError("the exported ensemble does not reproduce scikit-learn's predictions")
    return ensemble


def expected_score(p_good: np.ndarray) -> np.ndarray:
    knots, values = zip(*LEVELS, strict=True)
    return np.interp(p_good, knots, values)


def score_of(expected: np.ndarray) -> np.ndarray:
    return np.clip(np.floor(expected + 1e-9), 1, 5).astype(np.int8)


@dataclass(frozen=True)
class Calibration:
    """A fitted calibration: what it was fitted on, the ensemble, and its cross-validated figures."""

    version: str
    key: str  # see calibration_key
    recipe: str
    model: str
    prompt_version: str
    likelihood_tokens: int
    seed_set: str  # hash of the seed ids it was fitted on
    seed_pairs: int
    negatives: dict[str, int]
    ensemble: dict[str, Any]
    figures: dict[str, Any] = field(default_factory=dict)
    fit_seconds: float = 0.0

    def p_good(self, features: pl.DataFrame) -> np.ndarray:
        logit = ensemble_logit(self.ensemble, features.select(FEATURES).to_numpy())
        return 1.0 / (1.0 + np.exp(-logit))

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Calibration:
        return cls(**json.loads(text))


def seed_set_id(seed_ids: list[str]) -> str:
    return xxhash.xxh3_64_hexdigest("\n".join(sorted(seed_ids)).encode())


def calibration_key(model: str, prompt_version: str, likelihood_tokens: int, pairs: pl.DataFrame) -> str:
    """What determines a fit: the recipe (features, levels, ensemble), the model, its prompt, and the
    calibration pairs' texts. The same key gives the same calibration, found instead of fitted again."""
    recipe = json.dumps([RECIPE, FEATURES, LEVELS, _ENSEMBLE, model, prompt_version, likelihood_tokens])
    digest = xxhash.xxh3_64(recipe.encode())
    for text in pairs.select(
        pl.concat_str(["pair_id", "kind", "instruction", "output"], separator="\x00")
    ).to_series():
        digest.update(text.encode())
    return digest.hexdigest()


def calibration_pairs(seeds: pl.DataFrame, max_seed_pairs: int = MAX_SEED_PAIRS) -> pl.DataFrame:
    """The seed pairs (at most `max_seed_pairs`, chosen by a hash of their id) and the negatives made
    from them: pair_id, kind, instruction, output."""
    chosen = (
        seeds.select(pair_id="seed_id", instruction="instruction", output="output")
        .sort(pl.col("pair_id").hash(seed=13), "pair_id")
        .head(max_seed_pairs)
    )
    if chosen.height < 8:
        raise ValueError(
            f"the calibrated mode needs at least 8 seed pairs to fit on, found {chosen.height}: "
            "load seeds first (humpback seed load)"
        )
    positives = chosen.with_columns(kind=pl.lit("positive")).select(
        "pair_id", "kind", "instruction", "output"
    )
    return pl.concat([positives, make_negatives(chosen, family="calibration")])


def kind_weights(kinds: pl.Series) -> np.ndarray:
    """Each kind of negative weighs as much as all positives together."""
    counts = kinds.value_counts()
    count = dict(zip(counts[kinds.name], counts["count"], strict=True))
    positives = count.get("positive", 0)
    return np.array([1.0 if k == "positive" else positives / count[k] for k in kinds])


def _fit_ensemble(
    features: np.ndarray, labels: np.ndarray, weights: np.ndarray
) -> GradientBoostingClassifier:
    model = GradientBoostingClassifier(random_state=0, **_ENSEMBLE)
    return model.fit(features, labels, sample_weight=weights)


def cross_validated(pairs: pl.DataFrame, features: pl.DataFrame) -> dict[str, Any]:
    """Figures of the recipe on the calibration pairs themselves, each pair predicted by a fit that did
    not see its seed: AUROC per kind, and the precision and recall of A_4, A_4.5 and A_5."""
    x = features.select(FEATURES).to_numpy()
    labels = (pairs["kind"] == "positive").to_numpy()
    weights = kind_weights(pairs["kind"])
    fold = (pairs["pair_id"].hash(seed=17) % FOLDS).to_numpy()
    predicted = np.zeros(len(x))
    for k in range(FOLDS):
        train, test = fold != k, fold == k
        if test.any() and len(set(labels[train])) == 2:
            predicted[test] = _fit_ensemble(x[train], labels[train], weights[train]).predict_proba(x[test])[
                :, 1
            ]
    judged = pairs.with_columns(p_good=pl.Series(predicted), expected=pl.Series(expected_score(predicted)))
    present = [k for k in KINDS if (pairs["kind"] == k).any()]
    figures: dict[str, Any] = {"auroc": {k: auroc(judged, "p_good", k) for k in present}}
    for name, k in (("a4", 4.0), ("a4_5", 4.5), ("a5", 5.0)):
        figures[name] = selection(judged.with_columns(chosen=pl.col("expected") >= k), "chosen", present)
    return figures


def fit(
    pairs: pl.DataFrame,
    features: pl.DataFrame,
    *,
    model: str,
    prompt_version: str,
    likelihood_tokens: int,
    seed_ids: list[str],
    started: float | None = None,
) -> Calibration:
    """Fit the ensemble on calibration pairs (see `calibration_pairs`) and their features."""
    x = features.select(FEATURES).to_numpy()
    labels = (pairs["kind"] == "positive").to_numpy()
    ensemble = _export(_fit_ensemble(x, labels, kind_weights(pairs["kind"])), x)
    counts = pairs.filter(pl.col("kind") != "positive")["kind"].value_counts().sort("kind")
    spec = {
        "recipe": RECIPE,
        "model": model,
        "prompt_version": prompt_version,
        "likelihood_tokens": likelihood_tokens,
        "seed_set": seed_set_id(seed_ids),
        "features": list(FEATURES),
        "levels": [list(level) for level in LEVELS],
        "ensemble": ensemble,
    }
    version = f"{RECIPE}:{xxhash.xxh3_64_hexdigest(json.dumps(spec, sort_keys=True).encode())[:12]}"
    return Calibration(
        version=version,
        key=calibration_key(model, prompt_version, likelihood_tokens, pairs),
        recipe=RECIPE,
        model=model,
        prompt_version=prompt_version,
        likelihood_tokens=likelihood_tokens,
        seed_set=spec["seed_set"],
        seed_pairs=int(labels.sum()),
        negatives=dict(zip(counts["kind"], counts["count"], strict=True)),
        ensemble=ensemble,
        figures=cross_validated(pairs, features),
        fit_seconds=time.perf_counter() - started if started is not None else 0.0,
    )


def cache_path(key: str) -> Path:
    """Fitted calibrations are kept per machine, so another warehouse or a `humpback score` run with the
    same model and seeds finds them instead of fitting again."""
    root = (
        os.environ.get(CACHE_VARIABLE)
        or Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "humpback"
    )
    return Path(root) / "calibrations" / f"{key}.json"


def cached(key: str) -> Calibration | None:
    try:
        return Calibration.from_json(cache_path(key).read_text())
    except (OSError, ValueError, TypeError):
        return None


def remember(key: str, calibration: Calibration) -> None:
    path = cache_path(key)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}")
        tmp.write_text(calibration.to_json())
        os.replace(tmp, path)
    except OSError:
        pass  # a read-only home only costs a fit next time


def obtain(
    seeds: pl.DataFrame,
    *,
    model: str,
    prompt_version: str,
    likelihood_tokens: int,
    signals_of: Callable[[pl.DataFrame], pl.DataFrame],
    known: Callable[[str], Calibration | None] = cached,
    max_seed_pairs: int = MAX_SEED_PAIRS,
) -> tuple[Calibration, bool]:
    """The calibration for this model, prompt and seed set: found (`known`, then the cache) or fitted.
    `signals_of(pairs)` computes the model signals of calibration pairs (instruction, output). Returns
    the calibration and whether it was fitted now."""
    pairs = calibration_pairs(seeds, max_seed_pairs)
    seed_ids = pairs.filter(pl.col("kind") == "positive")["pair_id"].to_list()
    key = calibration_key(model, prompt_version, likelihood_tokens, pairs)
    found = known(key) or cached(key)
    if found is not None:
        remember(key, found)
        return found, False
    started = time.perf_counter()
    signals = signals_of(pairs)
    features = feature_frame(signals.with_columns(instruction=pairs["instruction"], answer=pairs["output"]))
    calibration = fit(
        pairs,
        features,
        model=model,
        prompt_version=prompt_version,
        likelihood_tokens=likelihood_tokens,
        seed_ids=seed_ids,
        started=started,
    )
    remember(key, calibration)
    return calibration, True
