"""The warehouse: every table's schema, defined once, and the folder of Parquet files that holds them."""

from warehouse.schemas import DOCUMENTS, REJECTS, SEGMENTS, STAGED_SEGMENTS, TABLES
from warehouse.store import Warehouse

__all__ = ["DOCUMENTS", "REJECTS", "SEGMENTS", "STAGED_SEGMENTS", "TABLES", "Warehouse"]
