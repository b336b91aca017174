"""The kind -> schema registry. Adding a dataset kind adds one line here."""

from codekiln.schemas.base import DatasetSchema
from codekiln.schemas.efa import EFA_VARIANTS, EFAS
from codekiln.schemas.lintseq import LINTSEQ
from codekiln.schemas.pragmatic import PRAGMATIC
from codekiln.schemas.preferences import LABELS, PREFERENCES
from codekiln.schemas.problems import PROBLEMS
from codekiln.schemas.responses import RESPONSES
from codekiln.schemas.tests import TESTS

SCHEMAS: dict[str, DatasetSchema] = {s.kind: s for s in (PROBLEMS, LINTSEQ, RESPONSES, TESTS, LABELS, PREFERENCES, PRAGMATIC, EFAS, EFA_VARIANTS)}


def get_schema(kind: str) -> DatasetSchema:
    try:
        return SCHEMAS[kind]
    except KeyError:
        raise KeyError(f"no schema for kind {kind!r}; known: {sorted(SCHEMAS)}") from None
