"""Execution labels (one row per candidate; also the unpaired KTO format) and TRL preference
pairs (PLUM: "Preference Learning Plus Test Cases Yields Better Code Language Models")."""

import pyarrow as pa
from codekiln.schemas.base import DatasetSchema

LABELS = DatasetSchema(
    kind="labels",
    description="Candidate programs labelled by a differential oracle (the suite, the reference's whole "
                "verified input pool, fresh inputs inside the problem's contract), one row per candidate.",
    arrow=pa.schema([
        pa.field("id", pa.string(), nullable=False),
        pa.field("problem_id", pa.string(), nullable=False),
        pa.field("prompt", pa.string(), nullable=False),
        # what follows the prompt: `prompt + completion == program` when `program` continues the prompt
        pa.field("completion", pa.string(), nullable=False),
        pa.field("program", pa.string(), nullable=False),  # what ran, in the canonical form
        pa.field("origin", pa.string(), nullable=False),  # sample:<source> | llm | source | reference | mutant
        pa.field("canonical", pa.bool_(), nullable=False),  # False: it does not parse (kept as written)
        pa.field("continues_prompt", pa.bool_(), nullable=False),  # program == prompt + completion
        pa.field("copies", pa.int64(), nullable=False),  # candidates that rendered to this program
        pa.field("verdicts", pa.list_(pa.string()), nullable=False),  # one per test of the suite
        pa.field("pass_ratio", pa.float64(), nullable=False),  # of the suite
        pa.field("verdict", pa.string(), nullable=False),  # passed, or the first failure's verdict
        pa.field("label", pa.bool_(), nullable=False),  # the oracle's: suite, pool and fresh inputs all agree
        pa.field("suite_passed", pa.bool_(), nullable=False),  # the shipped suite alone would accept it
        pa.field("original_passed", pa.bool_()),  # the problem's original tests alone would (null: none)
        pa.field("oracle", pa.string()),  # what told it apart first: suite | pool | fuzz (null: nothing)
        pa.field("first_difference", pa.string()),  # the input (or test) it first failed on
        pa.field("pool_agrees", pa.bool_(), nullable=False),  # same outputs as the reference on the pool
        pa.field("fuzz_agrees", pa.bool_()),  # ... on the fresh inputs (null: not run, the suite or pool rejected it)
        pa.field("n_tests", pa.int64(), nullable=False),
        pa.field("n_pool", pa.int64(), nullable=False),
        pa.field("n_fuzz", pa.int64(), nullable=False),
        # isolated: every verdict was judged on the host; in_process: some ran as code
        pa.field("trust", pa.string(), nullable=False),
    ]),
)

_PAIR_EXTRAS = [
    pa.field("chosen_pass_ratio", pa.float64(), nullable=False),
    pa.field("rejected_pass_ratio", pa.float64(), nullable=False),
    pa.field("rejected_verdict", pa.string(), nullable=False),  # the first failing test's verdict
    pa.field("chosen_origin", pa.string(), nullable=False),
    pa.field("trust", pa.string(), nullable=False),  # isolated: both sides judged on the host
    pa.field("rejected_origin", pa.string(), nullable=False),
    pa.field("problem_id", pa.string(), nullable=False),
]
MESSAGES = pa.list_(pa.struct([pa.field("role", pa.string()), pa.field("content", pa.string())]))

PREFERENCES = DatasetSchema(
    kind="preferences",
    description="Chosen/rejected pairs in TRL's preference format, labelled by execution.",
    arrow=pa.schema([pa.field("id", pa.string(), nullable=False),
                     pa.field("prompt", pa.string(), nullable=False),
                     pa.field("chosen", pa.string(), nullable=False),
                     pa.field("rejected", pa.string(), nullable=False)] + _PAIR_EXTRAS),
)

PREFERENCES_CONVERSATIONAL = DatasetSchema(
    kind="preferences",
    description=PREFERENCES.description + " (conversational: message lists)",
    arrow=pa.schema([pa.field("id", pa.string(), nullable=False),
                     pa.field("prompt", MESSAGES, nullable=False),
                     pa.field("chosen", MESSAGES, nullable=False),
                     pa.field("rejected", MESSAGES, nullable=False)] + _PAIR_EXTRAS),
)
