from __future__ import annotations

from pathlib import Path

import pytest

from etl.settings import Settings, load_settings


def test_toml_then_command_line_overrides(tmp_path: Path) -> None:
    config = tmp_path / "settings.toml"
    config.write_text('[quality]\nmin_words = 50\nmax_chars = 9000\n[language]\nkeep = ["en", "de"]\n')
    settings = load_settings(config, ["quality.min_words=12", "extract.fast=false", "dedup.threshold=0.8"])
    assert settings.quality.min_words == 12  # the command line wins over the file
    assert settings.quality.max_chars == 9000
    assert settings.language.keep == ("en", "de")
    assert settings.extract.fast is False
    assert settings.dedup.threshold == 0.8


def test_unknown_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown setting"):
        load_settings(None, ["quality.min_wordz=3"])
    with pytest.raises(ValueError, match="unknown settings section"):
        load_settings(None, ["qualty.min_words=3"])
    with pytest.raises(ValueError, match=r"section\.key=value"):
        load_settings(None, ["min_words=3"])


def test_only_extraction_settings_change_the_staging_fingerprint() -> None:
    base = Settings().staging_fingerprint()
    assert load_settings(None, ["quality.min_words=5", "language.keep=fr"]).staging_fingerprint() == base
    assert load_settings(None, ["extract.fast=false"]).staging_fingerprint() != base
    assert load_settings(None, ["dedup.num_perm=64"]).staging_fingerprint() != base
    # workers stage MinHash signatures; the threshold picks the band layout at finalize
    assert load_settings(None, ["dedup.threshold=0.6"]).staging_fingerprint() == base
