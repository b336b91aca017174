"""Assembling Beam graphs from configs: sources, the versioned store, the DuckDB catalog, the CLI."""

__version__ = "0.1.0"
