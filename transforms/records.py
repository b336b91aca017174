"""Helpers for canonical problem records (the shape `schemas.problems` describes), and the
internal keys a record carries between stages."""

from __future__ import annotations

import json
from typing import NamedTuple


def metadata(record: dict) -> dict:
    """The record's `metadata` JSON (the source fields kept by `metadata: [...]`), or {}."""
    try:
        value = json.loads(record.get("metadata") or "{}")
    except (TypeError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


# Keys a record carries between stages and never into a row: declared here, once, with their shape.
ORIGIN = "_origin"  # where a record came from, until dedupe has used it (see `Origin`)
LLM_CANDIDATES = "_llm_candidates"  # a model's proposals joined to the record they answer


class Origin(NamedTuple):
    """A record's place in its sources: the order dedupe keeps the first copy by (source
    position in the config, file, index in the file), and where to point a reject at."""

    source_order: int
    file_index: int
    index: int
    source: str
    location: str

    @classmethod
    def of(cls, record: dict) -> Origin:
        return cls(*record[ORIGIN])

    @property
    def position(self) -> tuple[int, int, int]:
        return self.source_order, self.file_index, self.index


def origin(source_order: int, envelope: dict) -> list:
    """The `ORIGIN` value of a record read from `envelope` (a list: it travels as JSON-able data)."""
    return list(Origin(source_order, envelope["file_index"], envelope["index"], envelope["source"],
                       envelope["location"]))
