"""Pragmatic examples for regex programs (Vaduguru, Fried, Pu: "Generating Pragmatic Examples to
Train Neural Program Synthesizers"): one row per target program."""

import pyarrow as pa
from codekiln.schemas.base import DatasetSchema

EXAMPLE = pa.struct([pa.field("text", pa.string(), nullable=False), pa.field("label", pa.bool_(), nullable=False)])

PRAGMATIC = DatasetSchema(
    kind="pragmatic",
    description="Examples chosen one at a time to single out a target regex among competitors, "
                "with a literal (random) baseline from the same pools.",
    arrow=pa.schema([
        pa.field("id", pa.string(), nullable=False),
        pa.field("program", pa.string(), nullable=False),  # the DSL term
        pa.field("regex", pa.string(), nullable=False),  # Python `re`, matched with fullmatch
        pa.field("examples", pa.list_(EXAMPLE), nullable=False),  # in the order chosen
        pa.field("p_target", pa.list_(pa.float64()), nullable=False),  # listener's P(target) after each
        pa.field("n_competitors", pa.list_(pa.int64()), nullable=False),  # consistent competitors left
        pa.field("baseline_examples", pa.list_(EXAMPLE), nullable=False),
        pa.field("baseline_p_target", pa.list_(pa.float64()), nullable=False),
        pa.field("seed", pa.int64(), nullable=False),
        pa.field("n_candidates", pa.int64(), nullable=False),  # distinct competitors sampled
        pa.field("n_pool", pa.int64(), nullable=False),  # candidate examples
    ]),
)
