"""The versioned store and querying it: versions and manifests, the DuckDB catalog, diffs between versions."""
