"""LintSeq in Beam: canonical problem records -> one row per program x edit path."""

from __future__ import annotations

from codekiln.schemas import content_id
from codekiln.transforms.lintseq.core import (
    Job,
    ProgramRejected,
    lintseq_batch,
    training_completion,
)
from codekiln.transforms.lintseq.functions import NotPython, top_level_functions
from codekiln.transforms.lintseq.linter import Ruff
from codekiln.transforms.lintseq.params import UNITS, LintSeqParams  # noqa: F401 - re-exported
from codekiln.transforms.stage import BatchStage, Reject, Stage


class SplitFunctions:
    """Stage function: a code record -> one record per top-level function."""

    def __call__(self, record: dict):
        try:
            functions = top_level_functions(record.get("solution") or "")
        except NotPython as e:
            raise Reject("syntax_error", str(e)) from None
        if not functions:
            raise Reject("no_functions", "no top-level function in this file")
        for name, program in functions:
            yield dict(record, id=content_id(record["id"], name), source_id=f"{record['source_id']}::{name}",
                       solution=program)


class LintSeqFn:
    """Batch stage function: records -> LintSeq rows (or a Reject per record)."""

    def __init__(self, params: LintSeqParams):
        self.params = params
        self.ruff: Ruff | None = None

    def setup(self):
        self.ruff = Ruff()

    def teardown(self):
        if self.ruff is not None:
            self.ruff.close()

    def __call__(self, records: list[dict]) -> list:
        p = self.params
        jobs = [Job(r.get("solution") or "", r["id"], p.paths_per_program, p.seed, p.max_edits,
                    max_lines=p.max_program_lines, budget=p.max_checked_lines,
                    prefix=(r.get("prompt") or "") if p.from_prompt else "", tries=p.path_tries) for r in records]
        out = []
        results = lintseq_batch(jobs, self.ruff, backstop_seconds=p.backstop_seconds)
        for record, result in zip(records, results, strict=True):
            if isinstance(result, ProgramRejected):
                out.append(Reject(result.reason, result.detail))
                continue
            prompt = record.get("prompt") or ""
            if prompt and not prompt.endswith("\n"):  # so the prompt ends on a token boundary
                prompt += "\n"
            out.append([{
                "id": content_id("lintseq", record["id"], p.seed, p.max_edits, p.from_prompt, path.path_index),
                "source_id": record["source_id"],
                "prompt": prompt,
                "program": record["solution"],
                "edits": path.edits,
                "n_edits": len(path.edits),
                "path_index": path.path_index,
                "distinct_paths": len(result),
                "seed": p.seed,
                "starts_from_prompt": bool(path.start),
                "completion": training_completion(path.edits, p.diff_token),
                "text": prompt + training_completion(path.edits, p.diff_token),
            } for path in result])
        return out


def build_lintseq(records, params: LintSeqParams, ctx):
    """The kind's builder: (rows, [rejects])."""
    rejects = []
    if params.unit == "function":
        records, r_split = records | Stage("split_functions", SplitFunctions(), ctx.progress_dir)
        rejects.append(r_split)
    rows, r_lint = records | BatchStage("lintseq", LintSeqFn(params), ctx.progress_dir,
                                        min_batch_size=min(8, params.batch_size),
                                        max_batch_size=params.batch_size)
    return rows, rejects + [r_lint]
