"""Model responses to a prompt template over records: one row per choice."""

import pyarrow as pa
from codekiln.schemas.base import DatasetSchema
from codekiln.schemas.preferences import MESSAGES

RESPONSES = DatasetSchema(
    kind="responses",
    description="One model response per row, traceable to its exact prompt.",
    arrow=pa.schema(
        [
            pa.field("id", pa.string(), nullable=False),
            pa.field("source_id", pa.string(), nullable=False),
            pa.field("template", pa.string(), nullable=False),
            pa.field("template_version", pa.string(), nullable=False),
            # TRL's conversational prompt/completion: the messages sent, then the model's reply
            pa.field("prompt", MESSAGES, nullable=False),
            # one assistant message: `response` without leading line breaks
            pa.field("completion", MESSAGES, nullable=False),
            pa.field("messages", MESSAGES, nullable=False),  # the whole conversation: prompt + completion
            pa.field("sample_index", pa.int64(), nullable=False),
            pa.field("choice_index", pa.int64(), nullable=False),
            pa.field("response", pa.string(), nullable=False),  # the raw text
            pa.field("parsed", pa.string(), nullable=False),  # what the parser kept
            pa.field("finish_reason", pa.string()),
            pa.field("model", pa.string(), nullable=False),
            pa.field("prompt_tokens", pa.int64(), nullable=False),
            pa.field("completion_tokens", pa.int64(), nullable=False),
        ]
    ),
)
