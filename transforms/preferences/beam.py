"""The `labels` and `preferences` kinds: candidates executed against test suites, then paired."""

from __future__ import annotations

import hashlib

import apache_beam as beam
from codekiln.schemas import content_id
from codekiln.transforms.execution.beam import PooledFn
from codekiln.transforms.llm.handler import LLMChoice, requests_for
from codekiln.transforms.llm.join import WithModelOutputs
from codekiln.transforms.llm.parse import parse_choice, parse_python_block
from codekiln.transforms.llm.prompts import PromptTemplate
from codekiln.transforms.preferences.core import (
    LabelParams,
    NotLabelled,
    PairParams,
    first_failure,
    label_rows,
    pairs,
)
from codekiln.transforms.preferences.samples import as_candidate
from codekiln.transforms.records import LLM_CANDIDATES
from codekiln.transforms.stage import MERGED, BatchStage, Reject, Stage


class LabelFn(PooledFn):
    """Batch stage function: tests rows (+ their samples) -> one label row per candidate."""

    def __init__(self, params: LabelParams, sandbox, cache_dir: str | None):
        super().__init__(sandbox, cache_dir)
        self.params = params

    def __call__(self, items: list[dict]) -> list:
        rows = [dict(item) for item in items]
        extra = {}
        for r in rows:
            samples = sorted(r.pop("_samples", []), key=lambda s: (s["origin"], s["location"]))
            extra[r["problem_id"]] = ([as_candidate(s, r.get("prompt") or "") for s in samples]
                                      + r.pop(LLM_CANDIDATES, []))
        out = []
        for row, labelled in zip(rows, label_rows(rows, extra, self.params, self.pool.run_many), strict=True):
            if isinstance(labelled, NotLabelled):
                out.append(Reject(labelled.reason, labelled.detail))
                continue
            for lab in labelled:
                digest = hashlib.sha256(lab["program"].encode()).hexdigest()
                lab["id"] = content_id("labels", row["id"], digest, lab["origin"])
            out.append(labelled)
        return out


class RenderSolve:
    """Stage function: a tests row -> the policy's requests for candidate solutions."""

    def __init__(self, llm, samples: int):
        self.llm, self.samples = llm, samples
        self.template = PromptTemplate.load("solve")

    def __call__(self, row: dict):
        yield from requests_for(self.llm, self.template, self.template.render(row), self.samples,
                                row["problem_id"], None, {"source_id": row["problem_id"]})


class ParseSolution:
    def __call__(self, choice: LLMChoice):
        program = parse_choice(choice.text, choice.refusal, parse_python_block, choice.finish_reason)
        yield choice.request.row_id, (program, "llm")


def _is_sample(row) -> bool:
    return "_sample" in row


class JoinSamples:
    """Stage function: a problem's tests row gets its samples; a sample without a problem is a reject."""

    def __call__(self, item):
        kind, value = item
        if kind == "orphan":
            raise Reject("unknown_problem", f"no test suite for problem {value['problem_id']!r}",
                         location=value["location"])
        yield MERGED if kind == "merged" else value


def _attach(item):
    problem_id, groups = item
    rows, samples = list(groups["rows"]), sorted(groups["samples"], key=lambda s: (s["origin"], s["location"]))
    for s in samples:  # counted as they join (or as rejects when no problem has them)
        yield ("merged" if rows else "orphan"), s
    for row in rows:  # one tests row per problem id in a tests dataset; each gets the samples
        yield "row", dict(row, _samples=samples)


def build_labels(rows, params: LabelParams, ctx):
    rejects = []
    samples = rows | "Samples" >> beam.Filter(_is_sample) | "KeySamples" >> beam.Map(
        lambda r: (r["_sample"]["problem_id"], r["_sample"]))
    tests = rows | "Problems" >> beam.Filter(lambda r: not _is_sample(r)) | "KeyProblems" >> beam.Map(
        lambda r: (r["problem_id"], r))
    grouped = {"rows": tests, "samples": samples} | "JoinSamples" >> beam.CoGroupByKey()
    rows, r_join = grouped | "Attach" >> beam.FlatMap(_attach) | Stage("join_samples", JoinSamples(), ctx.progress_dir)
    rejects.append(r_join)
    if ctx.llm is not None and params.llm_samples:  # the policy's samples as candidates
        rows, r_model = rows | WithModelOutputs(
            ctx, key_field="problem_id", field=LLM_CANDIDATES, render=RenderSolve(ctx.llm, params.llm_samples),
            render_stage="render_solve", parse=ParseSolution(), parse_stage="parse_solutions")
        rejects += r_model
    labels, r_label = rows | BatchStage("label", LabelFn(params, ctx.sandbox, ctx.exec_cache_dir),
                                        ctx.progress_dir, min_batch_size=1, max_batch_size=params.batch_size)
    return labels, rejects + [r_label]


def _message(role: str, text: str) -> list[dict]:
    return [{"role": role, "content": text}]


def _answer(program: str) -> list[dict]:
    """A program as the assistant's whole answer. Leading blank lines go (they mean nothing, and
    after a chat template's `assistant\n` they merge into one token with it, so the prompt would
    not end on a token boundary); both sides of a pair get the same treatment."""
    return _message("assistant", program.lstrip("\r\n"))


class PairFn:
    """Stage function: (problem id, its label rows) -> TRL preference rows."""

    def __init__(self, params: PairParams):
        self.params = params

    def __call__(self, item):
        problem_id, labels = item
        labels = sorted(labels, key=lambda r: r["id"])
        chosen_rejected = pairs(labels, self.params)
        if not chosen_rejected:
            n_pass = sum(r["label"] for r in labels)
            raise Reject("no_pair", f"{len(labels)} candidates, {n_pass} passing: no pair under rule "
                                    f"{self.params.rule!r}", location=problem_id)
        conversational = self.params.format == "conversational"
        for c, r in chosen_rejected:
            prompt = c["prompt"]
            # standard: `prompt + chosen` is the program; conversational: the answer is the program
            yield {
                "id": content_id("preferences", c["id"], r["id"]),
                "prompt": _message("user", prompt) if conversational else prompt,
                "chosen": _answer(c["program"]) if conversational else c["completion"],
                "rejected": _answer(r["program"]) if conversational else r["completion"],
                "chosen_pass_ratio": c["pass_ratio"],
                "rejected_pass_ratio": r["pass_ratio"],
                "rejected_verdict": first_failure(r["verdicts"]) if r["pass_ratio"] < 1 else r["verdict"],
                "chosen_origin": c["origin"],
                "trust": "isolated" if c.get("trust") == r.get("trust") == "isolated" else "in_process",
                "rejected_origin": r["origin"],
                "problem_id": problem_id,
            }


def build_preferences(labels, params: PairParams, ctx):
    grouped = (labels | "KeyByProblem" >> beam.Map(lambda r: (r["problem_id"], r))
               | "GroupByProblem" >> beam.GroupByKey())
    rows, r_pair = grouped | Stage("pair", PairFn(params), ctx.progress_dir)
    return rows, [r_pair]
