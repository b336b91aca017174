"""Helpers for canonical problem records (the shape `schemas.problems` describes)."""

from __future__ import annotations

import json


def metadata(record: dict) -> dict:
    """The record's `metadata` JSON (the source fields kept by `metadata: [...]`), or {}."""
    try:
        value = json.loads(record.get("metadata") or "{}")
    except (TypeError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}
