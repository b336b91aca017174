"""The kind -> schema registry. Adding a dataset kind adds one line here."""

from schemas.base import DatasetSchema
from schemas.lintseq import LINTSEQ
from schemas.problems import PROBLEMS
from schemas.responses import RESPONSES

SCHEMAS: dict[str, DatasetSchema] = {s.kind: s for s in (PROBLEMS, LINTSEQ, RESPONSES)}


def get_schema(kind: str) -> DatasetSchema:
    try:
        return SCHEMAS[kind]
    except KeyError:
        raise KeyError(f"no schema for kind {kind!r}; known: {sorted(SCHEMAS)}") from None
