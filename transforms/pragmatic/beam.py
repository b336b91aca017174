"""The `pragmatic` kind: target indices -> one row of pragmatic examples each."""

from __future__ import annotations

from schemas import content_id
from transforms.pragmatic.core import PragmaticParams, pragmatic_row
from transforms.stage import BatchStage


class PragmaticFn:
    def __init__(self, params: PragmaticParams):
        self.params = params

    def __call__(self, records: list[dict]) -> list:
        p = self.params
        out = []
        for r in records:
            index = int(r.get("index", 0))
            row = pragmatic_row(index, p)
            row["id"] = content_id("pragmatic", p.seed, index, p.competitors, p.examples, p.alphabet)
            out.append([row])
        return out


def build_pragmatic(records, params: PragmaticParams, ctx):
    rows, rejects = records | BatchStage("pragmatic", PragmaticFn(params), ctx.progress_dir,
                                         min_batch_size=1, max_batch_size=params.batch_size)
    return rows, [rejects]
