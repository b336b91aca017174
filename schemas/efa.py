"""Executable Functional Abstractions (EFAGen, Khan et al.): every candidate program with its
validation record, and the problem variants sampled from the valid ones."""

import pyarrow as pa
from codekiln.schemas.base import DatasetSchema

EFA_TEST = pa.struct([pa.field("name", pa.string(), nullable=False), pa.field("passed", pa.bool_(), nullable=False),
                      pa.field("reason", pa.string())])

EFAS = DatasetSchema(
    kind="efas",
    description="Candidate EFAs (valid or not) with the result of each unit test, in order.",
    arrow=pa.schema([
        pa.field("id", pa.string(), nullable=False),
        pa.field("seed_id", pa.string(), nullable=False),
        pa.field("source", pa.string(), nullable=False),
        pa.field("subject", pa.string()),
        pa.field("level", pa.string()),
        pa.field("seed_problem", pa.string(), nullable=False),
        pa.field("seed_answer", pa.string(), nullable=False),
        pa.field("candidate_index", pa.int64(), nullable=False),
        pa.field("origin", pa.string(), nullable=False),  # llm | source
        pa.field("program", pa.string()),  # the extracted program (null when not extractable)
        pa.field("response", pa.string(), nullable=False),  # the text it came from
        pa.field("tests", pa.list_(EFA_TEST), nullable=False),  # run in order, up to the first failure
        pa.field("passed_tests", pa.int64(), nullable=False),
        pa.field("failed_test", pa.string()),
        pa.field("reason", pa.string()),
        pa.field("valid", pa.bool_(), nullable=False),
        pa.field("original_answer", pa.string()),  # LaTeX of original().solve()
        pa.field("prompt_hash", pa.string()),  # the request's content hash (model candidates)
        pa.field("template_version", pa.string()),
    ]),
)

EFA_VARIANTS = DatasetSchema(
    kind="efa_variants",
    description="New problems with answers sampled from valid EFAs.",
    arrow=pa.schema([
        pa.field("id", pa.string(), nullable=False),
        pa.field("efa_id", pa.string(), nullable=False),
        pa.field("seed_id", pa.string(), nullable=False),
        pa.field("sample_seed", pa.int64(), nullable=False),  # Problem.sample(random.Random(sample_seed))
        pa.field("problem", pa.string(), nullable=False),
        pa.field("answer", pa.string(), nullable=False),  # repr of solve()
        pa.field("answer_latex", pa.string(), nullable=False),
        pa.field("params", pa.string(), nullable=False),  # JSON of the instance's parameters
        pa.field("duplicates_dropped", pa.int64(), nullable=False),  # renders of this EFA seen before
        # TRL prompt/completion for SFT: the problem and a newline; "The answer is $\\boxed{answer_latex}$."
        pa.field("prompt", pa.string(), nullable=False),
        pa.field("completion", pa.string(), nullable=False),
    ]),
)
