"""A DuckDB connection with every warehouse table registered as a view of its Parquet files.

A table with no files yet is an empty view of the right schema, so queries over it return no rows
instead of failing; a column missing from every file (written before the column was added) reads as null.

Each view reads the table's generation current when the connection opened (`Warehouse.table_path`):
appends to it show, and a compaction or rewrite of the table after that does not disturb the
connection's queries, which go on reading the files of the old generation. That generation is kept
for the warehouse's grace period (10 minutes): open a new connection to read past a rewrite, and do not
keep one longer than that across rewrites.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import polars as pl

from warehouse.schemas import TABLES
from warehouse.store import Warehouse


def connect(warehouse: Warehouse | Path | str, threads: int | None = 1) -> duckdb.DuckDBPyConnection:
    """`threads=None`: DuckDB's default, all cores."""
    warehouse = warehouse if isinstance(warehouse, Warehouse) else Warehouse(warehouse)
    con = duckdb.connect(config={"threads": threads} if threads else {})
    for name, schema in TABLES.items():
        con.register(f"_empty_{name}", schema.empty_table())
        folder = warehouse.table_path(name)  # resolved once: one generation for the view
        if not any(folder.glob("**/*.parquet")):
            con.execute(f"CREATE VIEW {name} AS SELECT * FROM _empty_{name}")
            continue
        glob = str(folder / "**" / "*.parquet").replace("'", "''")
        files = f"SELECT * FROM read_parquet('{glob}', union_by_name = true)"
        present = {row[0] for row in con.sql(f"DESCRIBE {files}").fetchall()}
        if set(schema.names) <= present:
            con.execute(f"CREATE VIEW {name} AS {files}")
        else:  # files written before a column was added: the column reads as null
            con.execute(f"CREATE VIEW {name} AS {files} UNION ALL BY NAME SELECT * FROM _empty_{name}")
    return con


def query(con: duckdb.DuckDBPyConnection, text: str, params: dict[str, object] | None = None) -> pl.DataFrame:
    """A query's result as a polars frame, through Arrow."""
    return pl.from_arrow(con.sql(text, params=params).to_arrow_table())  # type: ignore[return-value]
