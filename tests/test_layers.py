"""The architecture as a test: the import graph of the project's packages has no cycle, and no package
imports one above it (README: "Layout").

Every import counts, also those inside functions and under `TYPE_CHECKING`: a lazy import hides a
cycle from Python, not from a reader."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

# Lower layers first; a package may import its own layer's modules and those of lower layers, and
# packages on one layer may not import each other.
LAYERS: list[set[str]] = [
    {"common"},
    {"sql", "warehouse"},
    {"etl", "inference"},
    {"humpback_train"},
    {"humpback"},
]
RANK = {package: rank for rank, layer in enumerate(LAYERS) for package in layer}
SAME_LAYER_ALLOWED = {("warehouse", "sql")}  # the warehouse's views are sql/ files


ROOT = Path(__file__).resolve().parents[1]
# where each package's sources are; the training package is a project of its own, in training/, and
# read from there whether or not it is installed (`make test-fast` runs without it)
SOURCES = {package: ROOT / package for package in RANK}
SOURCES["humpback_train"] = ROOT / "training" / "humpback_train"


def package_root(name: str) -> Path | None:
    folder = SOURCES[name]
    return folder if (folder / "__init__.py").is_file() else None


def module_name(root: Path, package: str, path: Path) -> str:
    parts = [package, *path.relative_to(root).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_names(tree: ast.AST, module: str, is_package: bool) -> list[tuple[str, int]]:
    """(module or module.attribute, line) for every import statement in the file."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".") if is_package else module.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                prefix = ".".join(base + ([node.module] if node.module else []))
            else:
                prefix = node.module or ""
            found += [(f"{prefix}.{alias.name}", node.lineno) for alias in node.names]
            found.append((prefix, node.lineno))
    return found


def import_graph() -> tuple[dict[str, set[str]], dict[tuple[str, str], str]]:
    """Module -> the project modules it imports, and where each edge is written."""
    files: dict[str, tuple[Path, bool]] = {}
    for package in RANK:
        root = package_root(package)
        if root is None:
            continue
        for path in root.rglob("*.py"):
            files[module_name(root, package, path)] = (path, path.name == "__init__.py")
    graph: dict[str, set[str]] = {name: set() for name in files}
    where: dict[tuple[str, str], str] = {}
    for name, (path, is_package) in files.items():
        tree = ast.parse(path.read_text(), str(path))
        for target, line in imported_names(tree, name, is_package):
            # `from a.b import c`: c is a module when a/b/c.py exists, else a name in a.b
            if target in files and target != name:
                graph[name].add(target)
                where.setdefault((name, target), f"{path}:{line}")
    # `from a.b import c` also names a.b; drop that edge when a.b.c is the module actually meant
    for name, targets in graph.items():
        graph[name] = {t for t in targets if not any(o.startswith(t + ".") for o in targets)}
    return graph, where


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_every_layer_package_is_found() -> None:
    missing = [package for package in RANK if package_root(package) is None]
    assert not missing, f"no sources: {missing}"


def test_the_project_modules_import_no_cycle() -> None:
    graph, _ = import_graph()
    assert sum(len(t) for t in graph.values()) > 100, "the walk found too few imports to be the project's"
    assert cycles(graph) == []


def test_no_package_imports_a_package_above_it_or_beside_it() -> None:
    graph, where = import_graph()
    wrong = []
    for source, targets in graph.items():
        for target in targets:
            top_source, top_target = source.split(".")[0], target.split(".")[0]
            if top_source == top_target or (top_source, top_target) in SAME_LAYER_ALLOWED:
                continue
            if RANK[top_target] >= RANK[top_source]:
                wrong.append(f"{where[source, target]}: {source} imports {target}")
    assert wrong == []


@pytest.mark.parametrize(
    "graph, expected",
    [
        ({"a": {"b"}, "b": {"a"}, "c": set()}, [["a", "b"]]),
        ({"a": {"b"}, "b": {"c"}, "c": set()}, []),
        ({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}, [["a", "b", "c"]]),
    ],
)
def test_the_cycle_finder_finds_cycles(graph: dict[str, set[str]], expected: list[list[str]]) -> None:
    assert cycles(graph) == expected


def test_relative_and_lazy_imports_are_edges() -> None:
    source = "from . import b\nfrom .c import d\ndef f():\n    import x.y\n"
    names = {name for name, _ in imported_names(ast.parse(source), "p.q", is_package=False)}
    assert {"p.b", "p.c.d", "p.c", "x.y"} <= names
