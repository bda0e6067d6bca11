"""The training tests share the repository's fixtures (shared data, the sample corpus)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import (  # noqa: F401 - fixtures, re-exported for pytest
    copy_warehouse,
    local_ray,
    sample_etl,
    sample_warc,
    shared,
)
from warehouse.store import Warehouse

OASST = "seed/oasst_en_100_tree.jsonl"


@pytest.fixture(scope="session")
def base_model():
    """The embedded GGUF as a training base (converted once, then read from the cache)."""
    from humpback_train.base_model import resolve_base

    return resolve_base()


@pytest.fixture(scope="session")
def tokenizer(base_model):
    from humpback_train.base_model import load_tokenizer

    return load_tokenizer(base_model)


@pytest.fixture(scope="session")
def seeded_warehouse(
    shared: Path,  # noqa: F811
    sample_etl,  # noqa: F811
    tmp_path_factory: pytest.TempPathFactory,
) -> Warehouse:
    """The ETL's tables on the embedded sample and the real OpenAssistant seed pairs from ../shared."""
    from etl.seeds.table import add_seeds

    store = copy_warehouse(sample_etl.root, tmp_path_factory.mktemp("training") / "wh")
    add_seeds(store, [shared / OASST])
    return store
