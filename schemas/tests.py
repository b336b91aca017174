"""Generated test suites, one row per problem (EvalPlus-style, reduced by mutation analysis)."""

import pyarrow as pa

from schemas.base import DatasetSchema

TEST_CASE = pa.struct([
    pa.field("input", pa.string()),  # the argument tuple as a Python literal (None for whole tests)
    pa.field("expected", pa.string()),  # the reference's output as a Python literal
    pa.field("assert_src", pa.string(), nullable=False),  # runnable on its own after the program
    pa.field("origin", pa.string(), nullable=False),  # original | llm | mutation
    # isolated: the host judges it (the program only returns values); in_process: it runs as code
    pa.field("trust", pa.string()),
])

TESTS = DatasetSchema(
    kind="tests",
    description="Test suites verified against the reference, reduced to the fewest tests that "
                "kill every killable mutant, plus the original tests.",
    arrow=pa.schema([
        pa.field("id", pa.string(), nullable=False),
        pa.field("problem_id", pa.string(), nullable=False),
        pa.field("entry_point", pa.string(), nullable=False),
        pa.field("prompt", pa.string(), nullable=False),
        pa.field("reference", pa.string(), nullable=False),
        pa.field("tests", pa.list_(TEST_CASE), nullable=False),
        pa.field("n_tests", pa.int64(), nullable=False),
        pa.field("mutation_score", pa.float64(), nullable=False),  # killed by the suite / killable
        pa.field("original_mutation_score", pa.float64(), nullable=False),  # by the original tests
        pa.field("n_mutants", pa.int64(), nullable=False),
        pa.field("n_killable", pa.int64(), nullable=False),
        pa.field("n_candidate_tests", pa.int64(), nullable=False),  # before reduction
        pa.field("dropped_inputs", pa.string(), nullable=False),  # JSON: reason -> count
        pa.field("timeout_s", pa.float64(), nullable=False),  # per-test budget for candidates
        pa.field("candidates", pa.list_(pa.string())),  # the source's candidates, when it has them
    ]),
)
