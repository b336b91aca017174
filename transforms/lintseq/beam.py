"""LintSeq in Beam: canonical problem records -> one row per program x edit path."""

from __future__ import annotations

from dataclasses import dataclass

from codekiln.schemas import content_id
from codekiln.transforms.lintseq.core import (
    DIFF_TOKEN,
    MAX_CHECKED_LINES,
    MAX_PROGRAM_LINES,
    Job,
    ProgramRejected,
    lintseq_batch,
    training_completion,
)
from codekiln.transforms.lintseq.functions import NotPython, top_level_functions
from codekiln.transforms.lintseq.linter import Ruff
from codekiln.transforms.stage import BatchStage, Reject, Stage

UNITS = ("program", "function")


@dataclass(frozen=True)
class LintSeqParams:
    paths_per_program: int = 5  # the reference's default: distinct paths, when the program has them
    # walks at most per program to find them (0: 4 x paths_per_program); a small program may
    # have fewer distinct paths: its rows say how many (`distinct_paths`)
    path_tries: int = 0
    seed: int = 0
    max_edits: int = 0  # 0: no cap; else a longer path's tail becomes one final edit
    diff_token: str = DIFF_TOKEN
    unit: str = "program"  # or "function": each top-level function of a source is a program
    # a program that continues its prompt (a signature and docstring) is edited from the prompt,
    # so the edits never re-write it; False: always from the empty program, as in the paper
    from_prompt: bool = True
    batch_size: int = 64  # programs advanced in lockstep per linter round
    # bounded work: a longer program is rejected as `too_large` (0: no cap)
    max_program_lines: int = MAX_PROGRAM_LINES
    # per-record budget, counted: lines parsed + linted while sampling all of a program's paths;
    # past it the program is rejected as `budget_exceeded`, the same on any machine (0: none)
    max_checked_lines: int = MAX_CHECKED_LINES
    # wall-clock backstop per batch, for the unforeseen only (rows past it: `timeout`; 0: none)
    backstop_seconds: float = 3600.0

    def __post_init__(self):
        if self.paths_per_program < 1:
            raise ValueError("paths_per_program must be >= 1")
        if isinstance(self.path_tries, bool) or self.path_tries < 0:
            raise ValueError("path_tries must be >= 0 (0: 4 x paths_per_program)")
        if self.max_edits < 0:
            raise ValueError("max_edits must be >= 0 (0: no cap)")
        if self.unit not in UNITS:
            raise ValueError(f"unit must be one of: {', '.join(UNITS)} (got {self.unit!r})")
        if self.batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        for key in ("max_program_lines", "max_checked_lines"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{key} must be an integer >= 0 (0: no cap), got {value!r}")
        value = self.backstop_seconds
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
            raise ValueError(f"backstop_seconds must be a number >= 0 (0: no backstop), got {value!r}")


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
