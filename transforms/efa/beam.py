"""The `efas` and `efa_variants` kinds.

Every per-record step has a size cap (reject `too_large`) and a work budget (reject
`budget_exceeded`): `expand` caps a seed's answer and its number of candidates; `validate` caps
each candidate's text, counts each of its sandbox tests in steps and its answer comparison in
Python calls (`validate.py`, `matching.py`); `variants` caps the program and counts its sampling.
Over a limit there is no verdict, so the candidate is a reject, never an invalid EFA row.
"""

from __future__ import annotations

import dataclasses

from codekiln.schemas import content_id
from codekiln.transforms.efa.contract import CONTRACT
from codekiln.transforms.efa.matching import MAX_ANSWER_CHARS, default_matcher
from codekiln.transforms.efa.params import (  # noqa: F401
    MAX_K,
    MAX_VARIANTS,
    EfaParams,
    VariantParams,
)
from codekiln.transforms.efa.validate import (
    MAX_RESPONSE_CHARS,
    Candidate,
    Limit,
    sample_variants,
    validate,
)
from codekiln.transforms.execution.beam import PooledFn
from codekiln.transforms.llm.handler import LLMChoice, requests_for
from codekiln.transforms.llm.join import WithModelOutputs
from codekiln.transforms.llm.prompts import MissingField, PromptTemplate
from codekiln.transforms.records import LLM_CANDIDATES, metadata
from codekiln.transforms.stage import BatchStage, Reject, Stage

PACKAGES = ("sympy", "mpmath")  # what the contract lets an EFA import beyond the standard library
MAX_CANDIDATES = 1000  # per seed
MAX_PROMPT_CHARS = 100_000  # a rendered EFA prompt (the seed's problem and solution, the contract)


def _sandbox(ctx):
    missing = tuple(p for p in PACKAGES if p not in ctx.sandbox.packages)
    return dataclasses.replace(ctx.sandbox, packages=ctx.sandbox.packages + missing)


def expand(r: dict):
    """Stage function: a seed -> one record per candidate (the model's, then the source's)."""
    cands = list(r.get(LLM_CANDIDATES) or [])
    meta = metadata(r)
    source_cands = meta.get("candidates")
    if isinstance(source_cands, list):
        cands += [{"text": c, "origin": "source"} for c in source_cands if isinstance(c, str)]
    answer = r.get("answer")
    if not answer:
        raise Reject("no_answer", "the seed has no final answer to match")
    if not cands:
        raise Reject("no_candidates", "no model configured and no candidates column")
    if len(answer) > MAX_ANSWER_CHARS:
        raise Reject("too_large", f"the seed's answer has {len(answer)} characters (at most {MAX_ANSWER_CHARS})")
    if len(cands) > MAX_CANDIDATES:
        raise Reject("too_large", f"the seed has {len(cands)} candidates (at most {MAX_CANDIDATES})")
    seed = {"seed_id": r["source_id"], "source": r.get("source") or "",
            "subject": str(meta["subject"]) if "subject" in meta else None,
            "level": str(meta["level"]) if "level" in meta else None,
            "seed_problem": r.get("prompt") or "", "seed_answer": answer}
    for j, c in enumerate(cands):
        yield {"id": content_id("efas", r["id"], j, c["text"]), "source": seed["source"],
               "location": f"{r['source_id']} candidate {j}", "seed": seed, "candidate_index": j, "candidate": c}


class ValidateFn(PooledFn):
    """Batch stage function: candidate records -> one efas row each (or a reject: no verdict)."""

    def __init__(self, params: EfaParams, sandbox, cache_dir):
        super().__init__(sandbox, cache_dir)
        self.params = params

    def __call__(self, records: list[dict]) -> list:
        cands = [Candidate(r["seed"]["seed_id"], r["seed"]["seed_answer"], r["candidate"]["text"]) for r in records]
        verdicts = validate(cands, self.pool.run_many, self.params.k, match=default_matcher().match)
        out = []
        for r, cand, v in zip(records, cands, verdicts, strict=True):
            if isinstance(v, Limit):
                out.append(Reject(v.reason, v.detail))
                continue
            c = r["candidate"]
            out.append([dict(r["seed"], **{
                "id": r["id"], "candidate_index": r["candidate_index"], "origin": c["origin"],
                "program": v.program, "response": cand.text,
                "tests": v.tests, "passed_tests": sum(t["passed"] for t in v.tests),
                "failed_test": v.failed_test, "reason": v.reason, "valid": v.valid,
                "original_answer": v.original["answer"][1] if v.original else None,
                "prompt_hash": c.get("prompt_hash"), "template_version": c.get("template_version"),
            })])
        return out


class RenderEfaPrompt:
    def __init__(self, llm, samples: int):
        self.llm, self.samples = llm, samples
        self.template = PromptTemplate.load("efa")

    def __call__(self, record: dict):
        try:
            messages = self.template.render(dict(record, contract=CONTRACT))
        except MissingField as e:
            raise Reject("missing_field", f"the EFA prompt needs {e.args[0]!r}") from None
        size = sum(len(str(m.get("content") or "")) for m in messages)
        if size > MAX_PROMPT_CHARS:  # rendering is linear in its input: the cap bounds its work too
            raise Reject("too_large", f"the prompt has {size} characters (at most {MAX_PROMPT_CHARS})")
        yield from requests_for(self.llm, self.template, messages, self.samples, record["id"],
                                record.get("source"), {"source_id": record.get("source_id")})


def candidate(choice: LLMChoice):
    """Stage function: a model's answer is a candidate whatever it says; the unit tests judge it
    (an empty or refused answer fails is_extractable and stays visible in the funnel)."""
    req = choice.request
    text = choice.text if choice.text is not None else f"(refused: {choice.refusal})"
    yield req.row_id, {"text": text, "origin": "llm", "prompt_hash": req.key, "template_version": req.template_version}


def build_efas(records, params: EfaParams, ctx):
    rejects = []
    if ctx.llm is not None and params.llm_samples:  # the model's candidates for each seed
        records, rejects = records | WithModelOutputs(
            ctx, key_field="id", field=LLM_CANDIDATES, render=RenderEfaPrompt(ctx.llm, params.llm_samples),
            render_stage="render_efa_prompt", parse=candidate, parse_stage="candidates")
    cands, r_exp = records | Stage("expand", expand, ctx.progress_dir)
    rows, r_val = cands | BatchStage("validate", ValidateFn(params, _sandbox(ctx), ctx.exec_cache_dir),
                                     ctx.progress_dir, min_batch_size=1, max_batch_size=params.batch_size)
    return rows, rejects + [r_exp, r_val]


class VariantsFn(PooledFn):
    """Batch stage function: efas rows -> variants of the valid ones (invalid ones: rejected)."""

    def __init__(self, params: VariantParams, sandbox, cache_dir):
        super().__init__(sandbox, cache_dir)
        self.params = params

    def __call__(self, rows: list[dict]) -> list:
        p = self.params
        out: list = [None] * len(rows)
        todo = []
        for i, r in enumerate(rows):
            if not r["valid"]:
                out[i] = Reject("invalid_efa", f"failed {r.get('failed_test')}")
            elif not isinstance(r.get("program"), str):
                out[i] = Reject("missing_field", "program: a valid EFA row has its program")
            elif len(r["program"]) > MAX_RESPONSE_CHARS:
                out[i] = Reject("too_large", f"the program has {len(r['program'])} characters (at most {MAX_RESPONSE_CHARS})")
            else:
                todo.append(i)
        sampled = sample_variants([rows[i]["program"] for i in todo], p.variants_per_efa, p.seed, self.pool.run_many)
        for i, result in zip(todo, sampled, strict=True):
            if isinstance(result, Limit):
                out[i] = Reject(result.reason, result.detail)
                continue
            if isinstance(result, str):
                out[i] = Reject("sampling_failed", result)
                continue
            seen, variants = set(), []
            for v in result:
                if v["problem"] in seen:
                    continue
                seen.add(v["problem"])
                variants.append(v)
            dropped = len(result) - len(variants)
            out[i] = [{"id": content_id("efa_variants", rows[i]["id"], v["seed"]), "efa_id": rows[i]["id"],
                       "seed_id": rows[i]["seed_id"], "sample_seed": v["seed"], "problem": v["problem"],
                       "answer": v["answer"][0], "answer_latex": v["answer"][1], "params": v["params"],
                       "duplicates_dropped": dropped, **sft_pair(v["problem"], v["answer"][1])}
                      for v in variants]
        return out


def sft_pair(problem: str, answer_latex: str) -> dict:
    """A variant as TRL prompt/completion: the problem on its own line(s), then the answer boxed
    the way MATH solutions end (a line break between them, so no token spans the boundary)."""
    return {"prompt": problem.rstrip() + "\n", "completion": f"The answer is $\\boxed{{{answer_latex}}}$."}


def build_variants(rows, params: VariantParams, ctx):
    variants, rejects = rows | BatchStage("variants", VariantsFn(params, _sandbox(ctx), ctx.exec_cache_dir),
                                          ctx.progress_dir, min_batch_size=1, max_batch_size=params.batch_size)
    return variants, [rejects]
