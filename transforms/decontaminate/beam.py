"""Decontamination as a counted stage: a row whose text fields hold a benchmark item is a
reject `contaminated`, its detail naming the benchmark, the item and the matching span."""

from __future__ import annotations

from codekiln.transforms.decontaminate.index import DecontaminationParams, get_index
from codekiln.transforms.neardup.beam import text_leaves
from codekiln.transforms.stage import Reject

STAGE = "decontaminate"


class DecontaminateFn:
    """Stage function: row -> [row], or Reject("contaminated" | "too_large_to_check")."""

    def __init__(self, params: DecontaminationParams, fields: tuple[str, ...]):
        self.params, self.fields = params, fields
        self.index = None

    def setup(self):
        self.index = get_index(self.params)  # once per worker process, shared by its threads

    def __call__(self, row: dict):
        texts = {}
        for name in self.fields:
            text = "\n".join(text_leaves(row.get(name)))
            if len(text) > self.params.max_chars:
                raise Reject("too_large_to_check", f"field {name!r} has {len(text)} characters, more than "
                                                   f"decontaminate.max_chars {self.params.max_chars}")
            if text:
                texts[name] = text
        match = self.index.check(texts)
        if match is not None:
            raise Reject("contaminated", match.detail(self.params.ngram))
        yield row
