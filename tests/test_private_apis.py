"""The dependencies' private APIs the project still uses, where no public one does the job. Each is
pinned in constraints.txt; this test fails, naming it, when an upgrade moves it, and when a module
starts using another private API without saying so here."""

from __future__ import annotations

import ast
import importlib

import pytest

from tests.test_layers import RANK, package_root

# module -> the private names the project reads from it, and why there is no public way
ALLOWED = {
    # the MurmurHash3 finalizer MinHash applies to 32-bit hashes; our vectorised signatures must equal
    # MinHash's own (test_dedup.py), and datasketch exports no public alias
    "datasketch.minhash": {"_fmix"},
    # keeps a local Ray instance on 127.0.0.1 in a process that imported Ray before start_ray ran
    # (common/ray_runtime.py); Ray reads the same switch from the environment only at import
    "ray._private": {"ray_constants"},
}


def private_imports() -> dict[str, set[str]]:
    """module -> names imported from a private module, or private names, across the project's packages."""
    found: dict[str, set[str]] = {}
    for package in RANK:
        root = package_root(package)
        if root is None:
            continue
        for path in root.rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.Import):
                    for alias in node.names:
                        parts = alias.name.split(".")
                        if parts[0] not in RANK and any(p.startswith("_") for p in parts):
                            found.setdefault(alias.name, set()).add("*")
                    continue
                if not isinstance(node, ast.ImportFrom) or node.level or not node.module:
                    continue
                if node.module.split(".")[0] in RANK or node.module == "__future__":
                    continue
                private_module = any(part.startswith("_") for part in node.module.split("."))
                names = {a.name for a in node.names if private_module or a.name.startswith("_")}
                if names:
                    found.setdefault(node.module, set()).update(names)
    return found


def test_only_the_listed_private_apis_are_used() -> None:
    assert private_imports() == ALLOWED


@pytest.mark.parametrize("module, names", sorted(ALLOWED.items()))
def test_each_listed_private_api_still_exists(module: str, names: set[str]) -> None:
    loaded = importlib.import_module(module)
    for name in names:
        assert hasattr(loaded, name), f"{module}.{name} is gone: see constraints.txt and tests/{__name__}"
    if module == "ray._private":
        assert hasattr(loaded.ray_constants, "ENABLE_RAY_CLUSTER")
