"""Execution labels (one row per candidate; also the unpaired KTO format) and TRL preference
pairs (PLUM: "Preference Learning Plus Test Cases Yields Better Code Language Models")."""

import pyarrow as pa

from schemas.base import DatasetSchema

LABELS = DatasetSchema(
    kind="labels",
    description="Candidate programs run against a problem's test suite, one row per candidate.",
    arrow=pa.schema([
        pa.field("id", pa.string(), nullable=False),
        pa.field("problem_id", pa.string(), nullable=False),
        pa.field("prompt", pa.string(), nullable=False),
        pa.field("completion", pa.string(), nullable=False),
        pa.field("origin", pa.string(), nullable=False),  # llm | source | reference | mutant
        pa.field("verdicts", pa.list_(pa.string()), nullable=False),  # one per test
        pa.field("pass_ratio", pa.float64(), nullable=False),
        pa.field("verdict", pa.string(), nullable=False),
        pa.field("label", pa.bool_(), nullable=False),  # all tests passed (KTO's label)
        pa.field("n_tests", pa.int64(), nullable=False),
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
