"""Asking a model about each record and bringing the answers back to it: the one way the
methods that optionally use a model (tests, labels, efas) do it."""

from __future__ import annotations

import apache_beam as beam
from codekiln.transforms.llm.handler import AskLLM
from codekiln.transforms.stage import Stage


def _attach(item, field: str):
    _, grouped = item
    outputs = sorted(grouped["model"], key=repr)  # a group has no order: its content gives one
    for record in grouped["records"]:
        yield dict(record, **{field: outputs})


class WithModelOutputs(beam.PTransform):
    """records -> (records, rejects): each record gets `field`, the list of what `parse` made of
    the model's choices for it (a left join: a record whose requests failed goes on without them;
    the failures are rejects of the render/llm/parse stages).

    `render`: record -> LLMRequests (row_id = the record's `key_field`); `parse`: LLMChoice ->
    (row_id, value) outputs or a Reject."""

    def __init__(self, ctx, *, key_field: str, field: str, render, render_stage: str, parse, parse_stage: str):
        super().__init__(label=f"model_{field}")
        self.ctx, self.key_field, self.field = ctx, key_field, field
        self.render, self.render_stage, self.parse, self.parse_stage = render, render_stage, parse, parse_stage

    def expand(self, records):
        ctx = self.ctx
        requests, r_render = records | Stage(self.render_stage, self.render, ctx.progress_dir)
        choices, r_llm = requests | AskLLM(ctx.llm, ctx.llm_cache_dir, "llm", ctx.progress_dir)
        parsed, r_parse = choices | Stage(self.parse_stage, self.parse, ctx.progress_dir)
        key = self.key_field
        keyed = records | "Key" >> beam.Map(lambda r: (r[key], r))
        joined = ({"records": keyed, "model": parsed} | "Join" >> beam.CoGroupByKey()
                  | "Attach" >> beam.FlatMap(_attach, self.field))
        return joined, [r_render, r_llm, r_parse]
