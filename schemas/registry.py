"""The kind -> schema registry. Adding a dataset kind adds one line here."""

from schemas.base import DatasetSchema
from schemas.efa import EFA_VARIANTS, EFAS
from schemas.lintseq import LINTSEQ
from schemas.pragmatic import PRAGMATIC
from schemas.preferences import LABELS, PREFERENCES
from schemas.problems import PROBLEMS
from schemas.responses import RESPONSES
from schemas.tests import TESTS

SCHEMAS: dict[str, DatasetSchema] = {s.kind: s for s in (PROBLEMS, LINTSEQ, RESPONSES, TESTS, LABELS, PREFERENCES, PRAGMATIC, EFAS, EFA_VARIANTS)}


def get_schema(kind: str) -> DatasetSchema:
    try:
        return SCHEMAS[kind]
    except KeyError:
        raise KeyError(f"no schema for kind {kind!r}; known: {sorted(SCHEMAS)}") from None
