"""Humpback ETL: a web-corpus dump becomes documents and header-delimited segments in Parquet."""

__version__ = "0.1.0"
