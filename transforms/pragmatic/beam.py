"""The `pragmatic` kind: target indices -> one row of pragmatic examples each.

Per target: the index is checked (`bad_index`; `too_large` past 64 bits), its work is counted in
deterministic units against `core.MAX_WORK` (`budget_exceeded`), and its sizes are bounded by the
parameters, which are capped (`core.MAX_CELLS`, ...). A reject is that target's alone.
"""

from __future__ import annotations

from codekiln.schemas import content_id
from codekiln.transforms.pragmatic.core import (
    MAX_WORK,
    OverBudget,
    PragmaticParams,
    Work,
    pragmatic_row,
)
from codekiln.transforms.stage import BatchStage, Reject

MAX_INDEX = 2**63 - 1


def target_index(record: dict) -> int:
    """The record's target index: an integer in [0, MAX_INDEX] (a digit string or an integral
    float is read as one), else a reject."""
    index = record.get("index", 0)
    if isinstance(index, str) and index.strip().lstrip("+-").isdigit():
        digits = len(index.strip().lstrip("+-"))
        if digits > len(str(MAX_INDEX)):
            raise Reject("too_large", f"index has {digits} digits (at most {len(str(MAX_INDEX))})")
        index = int(index)
    elif isinstance(index, float) and index.is_integer() and abs(index) <= MAX_INDEX:
        index = int(index)
    if isinstance(index, bool) or not isinstance(index, int):
        raise Reject("bad_index", f"index must be an integer, not {type(index).__name__}")
    if index > MAX_INDEX:
        raise Reject("too_large", f"index {index} is past {MAX_INDEX}")
    if index < 0:
        raise Reject("bad_index", f"index must be >= 0 (got {index})")
    return index

class PragmaticFn:
    def __init__(self, params: PragmaticParams, max_work: int = MAX_WORK):
        self.params, self.max_work = params, max_work

    def __call__(self, records: list[dict]) -> list:
        p = self.params
        out = []
        for r in records:
            try:
                index = target_index(r)
                row = pragmatic_row(index, p, Work(self.max_work))
            except Reject as e:
                out.append(e)
                continue
            except OverBudget as e:
                out.append(Reject("budget_exceeded", f"target {index}: {e}"))
                continue
            row["id"] = content_id("pragmatic", p.seed, index, p.competitors, p.examples, p.alphabet)
            out.append([row])
        return out


def build_pragmatic(records, params: PragmaticParams, ctx):
    rows, rejects = records | BatchStage("pragmatic", PragmaticFn(params), ctx.progress_dir,
                                         min_batch_size=1, max_batch_size=params.batch_size)
    return rows, [rejects]
