"""Canonical problem records: programming problems with tests, and math problems with answers.

Every source corpus (HumanEval, MATH-500, GSM8K, ...) is mapped onto this one shape by the
config's field mapping, so downstream methods never see corpus-specific names.
"""

import pyarrow as pa
from codekiln.schemas.base import DatasetSchema

DOMAINS = ("code", "math")
# How `tests` is to be run: one test-function source (`def check(candidate): ...`, HumanEval
# style) or independent assert statements; "none" when the problem has no tests.
TESTS_KINDS = ("check_function", "asserts", "none")

PROBLEMS = DatasetSchema(
    kind="problems",
    description="Programming and math problems normalised into one canonical record.",
    arrow=pa.schema(
        [
            pa.field("id", pa.string(), nullable=False),
            pa.field("source", pa.string(), nullable=False),
            pa.field("source_id", pa.string(), nullable=False),
            pa.field("domain", pa.string(), nullable=False),
            pa.field("prompt", pa.string(), nullable=False),
            pa.field("solution", pa.string()),
            pa.field("answer", pa.string()),
            pa.field("entry_point", pa.string()),
            pa.field("tests", pa.list_(pa.string()), nullable=False),
            pa.field("tests_kind", pa.string(), nullable=False),
            pa.field("metadata", pa.string()),  # JSON object of the source's extra fields
        ]
    ),
)
