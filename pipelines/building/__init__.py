"""Turning a config into a committed version: sources, the field mapping, the Beam graph, shards, progress."""
