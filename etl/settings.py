"""Every threshold and knob of the ETL, in one place, with its documented default.

Settings come from the defaults below, then a TOML file (same section and key names), then
`section.key=value` overrides from the command line, in that order.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from common.quality_rules import SIGNAL_COLUMNS, settings_defaults

# Bump when a code change alters the rows a batch stages (ids, columns, signals): batches staged by
# older code are then recomputed instead of mixed with new ones.
STAGING_FORMAT = 3


@dataclass(frozen=True)
class ReadSettings:
    records_per_batch: int = 64  # pages handed to a worker at once; also the unit of resume
    max_batch_bytes: int = 32_000_000  # a batch also ends once its pages hold this many bytes
    # Small input files (a folder of saved pages) are packed into one stream of batches, up to this
    # many bytes or files (see etl/plan.py); a file of pack_bytes or more is read on its own.
    pack_bytes: int = 16_000_000
    pack_files: int = 256
    max_page_bytes: int = 8_000_000  # larger payloads are rejected before extraction
    html_column: str = ""  # JSONL/Parquet column holding the HTML; "" = first of html, content, raw_content
    url_column: str = "url"


@dataclass(frozen=True)
class ExtractSettings:
    fast: bool = True  # trafilatura fast mode: no fallback extractors (readability, justext)
    page_timeout_s: float = 30.0  # a page still extracting after this is rejected
    include_tables: bool = True


@dataclass(frozen=True)
class LanguageSettings:
    keep: tuple[str, ...] = ("en",)  # ISO 639-1 codes to keep; empty keeps every language
    min_score: float = 0.5  # fastText probability the detected language must reach


@dataclass(frozen=True)
class DedupSettings:
    ngram: int = 5  # word n-gram shingles (datatrove: 5)
    num_perm: int = 112  # MinHash permutations (datatrove: 14 bands x 8 rows = 112)
    threshold: float = 0.75  # Jaccard similarity at which two segments count as near-duplicates
    seed: int = 1


# One field per threshold of the quality rules, with its default: declared with the rules themselves
# (common/quality_rules.py), so a new rule brings its settings.
QualitySettings = dataclasses.make_dataclass(
    "QualitySettings",
    [(name, type(default), field(default=default)) for name, default in settings_defaults().items()],
    frozen=True,
)
QualitySettings.__module__ = __name__  # pickled by reference to the workers (Python 3.12 has module=)


@dataclass(frozen=True)
class Settings:
    read: ReadSettings = field(default_factory=ReadSettings)
    extract: ExtractSettings = field(default_factory=ExtractSettings)
    language: LanguageSettings = field(default_factory=LanguageSettings)
    dedup: DedupSettings = field(default_factory=DedupSettings)
    quality: QualitySettings = field(default_factory=QualitySettings)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def staging_fingerprint(self) -> str:
        """Hash of what shapes the staged rows of a batch (reading, extraction, MinHash).

        Language and quality thresholds, and the dedup threshold (with its LSH band layout: workers stage
        MinHash signatures), apply at finalize time, so changing them never re-extracts a page.
        """
        from importlib.metadata import version

        relevant = {
            "read": {"max_page_bytes": self.read.max_page_bytes},
            "extract": dataclasses.asdict(self.extract) | {"page_timeout_s": None},
            "dedup": {k: getattr(self.dedup, k) for k in ("ngram", "num_perm", "seed")},
            # Shingle and text hashes come from polars' hash, stable only within one polars version.
            "versions": {
                "format": STAGING_FORMAT,
                "signals": SIGNAL_COLUMNS,  # a new rule's signal is staged: batches without it are redone
                "polars": version("polars"),
                "trafilatura": version("trafilatura"),
            },
        }
        return hashlib.blake2b(json.dumps(relevant, sort_keys=True).encode(), digest_size=8).hexdigest()


def _coerce(section_type: type, key: str, value: Any) -> Any:
    fields = {f.name: f for f in dataclasses.fields(section_type)}
    if key not in fields:
        raise ValueError(f"unknown setting {section_type.__name__}.{key}; known: {', '.join(fields)}")
    default = getattr(section_type(), key)
    if isinstance(default, tuple):
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        return tuple(value)
    if isinstance(default, bool):
        if isinstance(value, str):
            return value.lower() in ("1", "true", "yes", "on")
        return bool(value)
    return type(default)(value)


def _section_class(name: str) -> type:
    classes = {
        "read": ReadSettings,
        "extract": ExtractSettings,
        "language": LanguageSettings,
        "dedup": DedupSettings,
        "quality": QualitySettings,
    }
    if name not in classes:
        raise ValueError(f"unknown settings section {name!r}; known: {', '.join(classes)}")
    return classes[name]


def apply_overrides(settings: Settings, overrides: dict[str, dict[str, Any]]) -> Settings:
    """Return settings with `{section: {key: value}}` applied, values coerced to the default's type."""
    updated = {}
    for section, values in overrides.items():
        cls = _section_class(section)
        current = getattr(settings, section)
        coerced = {k: _coerce(cls, k, v) for k, v in values.items()}
        updated[section] = dataclasses.replace(current, **coerced)
    return dataclasses.replace(settings, **updated)


def parse_assignment(text: str) -> tuple[str, str, str]:
    """`quality.min_words=20` -> ("quality", "min_words", "20")."""
    name, sep, value = text.partition("=")
    section, dot, key = name.strip().partition(".")
    if not sep or not dot:
        raise ValueError(f"expected section.key=value, got {text!r}")
    return section, key, value.strip()


def load_settings(toml_path: Path | None = None, assignments: list[str] | None = None) -> Settings:
    settings = Settings()
    if toml_path is not None:
        with open(toml_path, "rb") as fh:
            settings = apply_overrides(settings, tomllib.load(fh))
    overrides: dict[str, dict[str, Any]] = {}
    for assignment in assignments or []:
        section, key, value = parse_assignment(assignment)
        overrides.setdefault(section, {})[key] = value
    return apply_overrides(settings, overrides)
