"""Generated test suites, one row per problem (EvalPlus-style, reduced by mutation analysis)."""

import pyarrow as pa
from codekiln.schemas.base import DatasetSchema

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
    description="Test suites verified against the reference: the original tests, the fewest generated "
                "tests that kill every killable mutant and take every branch, a floor of generated tests, "
                "and the whole verified input pool.",
    arrow=pa.schema([
        pa.field("id", pa.string(), nullable=False),
        pa.field("problem_id", pa.string(), nullable=False),
        pa.field("entry_point", pa.string(), nullable=False),
        pa.field("prompt", pa.string(), nullable=False),
        pa.field("reference", pa.string(), nullable=False),
        pa.field("tests", pa.list_(TEST_CASE), nullable=False),  # the reduced suite
        pa.field("n_tests", pa.int64(), nullable=False),
        # every input the reference answered (the differential oracle of `labels` runs them all)
        pa.field("pool", pa.list_(TEST_CASE), nullable=False),
        pa.field("n_pool", pa.int64(), nullable=False),
        pa.field("contract", pa.string()),  # JSON: the input contract inferred (types, ranges, relations)
        # on the reduction mutants: true by construction (null when none was killable)
        pa.field("mutation_score", pa.float64()),
        # the suite's score on mutants the reduction never saw (held out by seed): can fail
        pa.field("heldout_mutation_score", pa.float64()),
        pa.field("original_mutation_score", pa.float64()),  # the original tests', on the held-out mutants
        pa.field("n_mutants", pa.int64(), nullable=False),
        pa.field("n_heldout", pa.int64(), nullable=False),
        pa.field("n_killable", pa.int64(), nullable=False),  # mutants some pool test kills
        pa.field("n_equivalent", pa.int64(), nullable=False),  # mutants the whole pool cannot tell apart
        pa.field("branch_coverage", pa.float64()),  # the reference's arcs the suite takes / the pool takes
        pa.field("n_candidate_tests", pa.int64(), nullable=False),  # before reduction
        pa.field("dropped_inputs", pa.string(), nullable=False),  # JSON: reason -> count
        # a model's proposed inputs and asserts that were not used: the raw text and why
        # (outside the contract, the reference raises or is too slow on it, fails the reference)
        pa.field("llm_failures", pa.list_(pa.struct([
            pa.field("kind", pa.string(), nullable=False),  # input | assert
            pa.field("text", pa.string(), nullable=False),
            pa.field("reason", pa.string(), nullable=False),
            pa.field("message", pa.string()),
        ])), nullable=False),
        pa.field("timeout_s", pa.float64(), nullable=False),  # per-test time backstop for candidates (a rule)
        # trace events a candidate may spend per input before it is too slow (a count, not a clock)
        pa.field("step_budget", pa.int64(), nullable=False),
        pa.field("candidates", pa.list_(pa.string())),  # the source's candidates, when it has them
    ]),
)
