"""The `responses` kind's parameters (importable without Beam)."""

from __future__ import annotations

from dataclasses import dataclass

from codekiln.transforms.llm.parse import PARSERS
from codekiln.transforms.llm.prompts import PromptTemplate


@dataclass(frozen=True)
class ResponsesParams:
    template: str = "solve"  # a file transforms/llm/templates/<template>.prompt
    parser: str = "text"  # text | python_block
    samples: int = 1  # independent requests per record (each with `llm.n` choices)

    def __post_init__(self):
        try:
            PromptTemplate.load(self.template)  # fails at config time, naming the known templates
        except FileNotFoundError as e:
            raise ValueError(f"template {self.template!r}: {e}") from None
        if self.parser not in PARSERS:
            raise ValueError(f"parser must be one of: {', '.join(PARSERS)} (got {self.parser!r})")
        if self.samples < 1:
            raise ValueError("samples must be >= 1")
