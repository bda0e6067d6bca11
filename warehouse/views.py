"""The warehouse as SQL: a DuckDB connection with the tables and every view of `sql/views/` registered.

`sql/views/` is layered like a dbt project: `functions/` (scalar macros such as `meets_threshold`),
`staging/` views over the raw Parquet tables, then `marts/` built only on staging views and other
marts. A file holding one SELECT becomes a view named after the file; a file that starts with CREATE
(a table macro such as `curated(iteration, k)`) runs as written.

    from warehouse.views import connect_views
    con = connect_views("warehouse-data")
    con.sql("SELECT * FROM curated(0, 4.5)").pl()
"""

from __future__ import annotations

import re
from importlib.resources import files
from pathlib import Path

import duckdb

from warehouse.connect import connect
from warehouse.store import Warehouse

LAYERS = ("functions", "staging", "marts")
_COMMENT = re.compile(r"^\s*(--[^\n]*\n\s*)*", re.MULTILINE)


class QueryRefused(ValueError):
    """A statement the read-only SQL layer does not run."""


def view_files() -> list[tuple[str, str]]:
    """(name, SQL) of every view file, staging first."""
    found = []
    for layer in LAYERS:
        folder = files("sql") / "views" / layer
        for entry in sorted(folder.iterdir(), key=lambda e: e.name):
            if entry.name.endswith(".sql"):
                found.append((entry.name.removesuffix(".sql"), entry.read_text()))
    return found


def _register(con: duckdb.DuckDBPyConnection) -> None:
    pending = view_files()
    while pending:  # a view may use a mart defined later in the folder: retry until nothing changes
        failed: list[tuple[str, str]] = []
        errors: list[str] = []
        for name, text in pending:
            body = _COMMENT.sub("", text, count=1).lstrip()
            statement = text if body.upper().startswith("CREATE") else f"CREATE VIEW {name} AS {text}"
            try:
                con.execute(statement)
            except duckdb.CatalogException as exc:
                failed.append((name, text))
                errors.append(f"{name}: {exc}")
        if len(failed) == len(pending):
            raise RuntimeError("views that cannot be created:\n" + "\n".join(errors))
        pending = failed


def connect_views(warehouse: Warehouse | Path | str, *, sandbox: bool = True) -> duckdb.DuckDBPyConnection:
    """A connection with every table and view. With `sandbox`, queries can read only the warehouse's
    files and write none, and the setting is locked so a query cannot lift it."""
    warehouse = warehouse if isinstance(warehouse, Warehouse) else Warehouse(warehouse)
    con = connect(warehouse, threads=None)
    con.execute("SET parquet_metadata_cache = true")  # a session's queries read the footers once
    _register(con)
    if sandbox:
        root = str(warehouse.root.resolve()).replace("'", "''")
        con.execute(f"SET allowed_directories = ['{root}/']")
        con.execute("SET enable_external_access = false")
        con.execute("SET lock_configuration = true")
    return con


def check_read_only(con: duckdb.DuckDBPyConnection, text: str) -> None:
    """Refuse anything but SELECT statements (and their WITH, EXPLAIN and DESCRIBE forms)."""
    try:
        statements = con.extract_statements(text)
    except duckdb.Error as exc:
        raise QueryRefused(f"the query does not parse: {exc}") from exc
    if not statements:
        raise QueryRefused("no statement to run")
    allowed = {duckdb.StatementType.SELECT, duckdb.StatementType.EXPLAIN}
    for statement in statements:
        if statement.type not in allowed:
            kind = statement.type.name.lower()
            raise QueryRefused(
                f"only SELECT queries run here; refused a {kind} statement (the warehouse is read-only)"
            )
