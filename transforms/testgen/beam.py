"""The `tests` kind: canonical programming problems -> one verified, reduced test suite each."""

from __future__ import annotations

import ast
import json

from codekiln.schemas import content_id
from codekiln.transforms import pyast
from codekiln.transforms.execution.beam import PooledFn
from codekiln.transforms.llm.handler import LLMChoice, requests_for
from codekiln.transforms.llm.join import WithModelOutputs
from codekiln.transforms.llm.parse import parse_choice, parse_python_block
from codekiln.transforms.llm.prompts import MissingField, PromptTemplate
from codekiln.transforms.records import metadata
from codekiln.transforms.stage import BatchStage, Reject
from codekiln.transforms.testgen.inputs import parse_llm_inputs
from codekiln.transforms.testgen.suite import (
    NoSuite,
    Problem,
    TestgenParams,
    build_suites,
    runnable_tests,
)


class SuiteFn(PooledFn):
    """Batch stage function: problem records -> tests rows (or a Reject each)."""

    def __init__(self, params: TestgenParams, sandbox, cache_dir: str | None):
        super().__init__(sandbox, cache_dir)
        self.params = params

    def __call__(self, records: list[dict]) -> list:
        problems, out = [], [None] * len(records)
        for i, r in enumerate(records):
            candidates = metadata(r).get("candidates")
            samples = [c for c in candidates if isinstance(c, str)] if isinstance(candidates, list) else None
            if not r.get("entry_point"):
                out[i] = Reject("no_entry_point", "a test suite needs the function's name (entry_point)")
            elif not (r.get("solution") or "").strip():
                out[i] = Reject("no_reference", "the problem has no reference solution")
            elif (size := len(r["solution"]) + sum(len(t) for t in r.get("tests") or [])) > self.params.max_problem_chars:
                out[i] = Reject("too_large", f"reference and tests have {size} characters "
                                             f"(max_problem_chars {self.params.max_problem_chars})")
            else:
                problems.append((i, Problem(
                    r["id"], r["source_id"], r.get("prompt") or "", r["solution"], r["entry_point"],
                    runnable_tests(r.get("tests") or [], r.get("tests_kind", "none"), r["entry_point"]),
                    _distinct(a for p in r.get("_llm_proposals") or [] for a in p.get("inputs", [])),
                    _distinct(a for p in r.get("_llm_proposals") or [] for a in p.get("asserts", [])),
                    samples or [])))
        suites = build_suites([p for _, p in problems], self.pool.run_many, self.params)
        p = self.params
        for (i, problem), suite in zip(problems, suites, strict=True):
            if isinstance(suite, NoSuite):
                out[i] = Reject(suite.reason, suite.detail)
                continue
            out[i] = [dict(suite, id=content_id("tests", problem.id, p.pool_size, p.max_mutants, p.seed),
                           dropped_inputs=json.dumps(suite["dropped_inputs"], sort_keys=True),
                           candidates=problem.samples or None)]
        return out


def _distinct(items) -> list:
    """Proposals in first-seen order, each once (samples of one prompt often repeat each other)."""
    seen, out = set(), []
    for a in items:
        if repr(a) not in seen:
            seen.add(repr(a))
            out.append(a)
    return out


class RenderTestPrompts:
    """Stage function: a problem -> two model requests (inputs, asserts)."""

    def __init__(self, llm):
        self.llm = llm
        self.templates = [PromptTemplate.load("test_inputs"), PromptTemplate.load("test_asserts")]

    def __call__(self, record: dict):
        for template in self.templates:
            try:
                messages = template.render(record)
            except MissingField as e:
                raise Reject("missing_field", f"template {template.name!r} needs {e.args[0]!r}") from None
            yield from requests_for(self.llm, template, messages, 1, record["id"], record.get("source"),
                                    {"source_id": record.get("source_id"), "id": record["id"]})


class ParseTestProposals:
    """Stage function: a model's choice -> (record id, {"inputs"|"asserts": [...]})."""

    def __call__(self, choice: LLMChoice):
        req = choice.request
        block = parse_choice(choice.text, choice.refusal, parse_python_block, choice.finish_reason)
        if req.template == "test_inputs":
            inputs = parse_llm_inputs(block)
            if not inputs:
                raise Reject("unparseable_response", f"not a literal list of argument tuples: {block[:2000]}")
            yield req.row_id, {"inputs": inputs}
            return
        asserts = [ast.get_source_segment(block, n) for n in pyast.parse(block).body if isinstance(n, ast.Assert)]
        if not asserts:
            raise Reject("unparseable_response", f"no assert statements: {block[:2000]}")
        yield req.row_id, {"asserts": asserts}


def build_tests(records, params: TestgenParams, ctx):
    rejects: list = []
    if ctx.llm is not None:  # a model's inputs and asserts, attached to each problem
        records, r_model = records | WithModelOutputs(
            ctx, key_field="id", field="_llm_proposals", render=RenderTestPrompts(ctx.llm),
            render_stage="render_test_prompts", parse=ParseTestProposals(), parse_stage="parse_test_proposals")
        rejects += r_model
    rows, r_suite = records | BatchStage("testgen", SuiteFn(params, ctx.sandbox, ctx.exec_cache_dir),
                                         ctx.progress_dir, min_batch_size=1, max_batch_size=params.batch_size)
    return rows, rejects + [r_suite]
