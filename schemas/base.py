"""Shared pieces of every dataset schema: reject rows, ids, schema descriptions."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

import pyarrow as pa

# One reject schema for every stage of every kind: why a row did not make it, and what it was.
REJECT_SCHEMA = pa.schema(
    [
        pa.field("stage", pa.string(), nullable=False),
        pa.field("reason", pa.string(), nullable=False),
        pa.field("source", pa.string()),
        pa.field("location", pa.string()),
        pa.field("detail", pa.string()),
        pa.field("payload", pa.string()),  # the input as JSON, so it can be replayed
    ]
)


@dataclass(frozen=True)
class DatasetSchema:
    """The Arrow schema of one dataset kind plus what a reader needs to know about it."""

    kind: str
    arrow: pa.Schema
    description: str

    def validate_row(self, row: dict) -> None:
        """Raise ValueError if `row` does not fit the schema (used in tests and at write time)."""
        missing = set(self.arrow.names) - set(row)
        extra = set(row) - set(self.arrow.names)
        if missing or extra:
            raise ValueError(f"{self.kind}: missing {sorted(missing)}, unexpected {sorted(extra)}")
        pa.Table.from_pylist([row], schema=self.arrow)


def content_id(*parts: object) -> str:
    """A stable 16-hex-digit id from the parts (source id, method, parameters, sample index).

    Ids are derived from content, never from positions, so reruns and reorderings agree.
    """
    blob = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def schema_to_json(schema: pa.Schema) -> list[dict]:
    """A readable, JSON-serialisable description of an Arrow schema (for manifests and cards)."""
    return [
        {"name": f.name, "type": str(f.type), "nullable": f.nullable} for f in schema
    ]
