"""LintSeq rows: one per program x edit path (Piterbarg et al., "Training Language Models on
Synthetic Edit Sequences Improves Code Synthesis")."""

import pyarrow as pa
from codekiln.schemas.base import DatasetSchema

LINTSEQ = DatasetSchema(
    kind="lintseq",
    description="Programs refactored into insertion-only edit sequences, every intermediate "
                "program free of linter errors.",
    arrow=pa.schema(
        [
            pa.field("id", pa.string(), nullable=False),
            pa.field("source_id", pa.string(), nullable=False),
            # the instruction (or code the program continues), ending with a newline; empty for bare code
            pa.field("prompt", pa.string(), nullable=False),
            pa.field("program", pa.string(), nullable=False),  # the source program
            # zero-context insertion hunks, from the prompt when `starts_from_prompt`, else from nothing
            pa.field("edits", pa.list_(pa.string()), nullable=False),
            pa.field("n_edits", pa.int64(), nullable=False),
            pa.field("path_index", pa.int64(), nullable=False),  # the walk it came from
            # how many distinct paths the program gave (paths_per_program, or fewer when it has
            # no more in path_tries walks: its rows are then all there is)
            pa.field("distinct_paths", pa.int64(), nullable=False),
            pa.field("seed", pa.int64(), nullable=False),
            pa.field("starts_from_prompt", pa.bool_(), nullable=False),
            # what a model learns to write after the prompt: diff token + edit, ... (TRL prompt/completion)
            pa.field("completion", pa.string(), nullable=False),
            pa.field("text", pa.string(), nullable=False),  # prompt + completion, one string
        ]
    ),
)
