"""PLUM-style labels and preference pairs ("Preference Learning Plus Test Cases Yields Better
Code Language Models"): candidates run against a problem's test suite in the sandbox; passing
and failing candidates become chosen/rejected pairs.

Candidates: a model's samples (when configured), a `candidates` column of the source, and,
offline, the reference and its mutants, each marked by `origin`. Programs that are the same up
to formatting (same `ast.dump`) count once.
"""

from __future__ import annotations

import ast
import hashlib
import random
import warnings
from collections.abc import Callable
from dataclasses import dataclass

from transforms.execution.sandbox import ExecResult, Task
from transforms.testgen.mutants import mutants as make_mutants
from transforms.testgen.suite import trust_of

RULES = ("plum", "acecoder")
FORMATS = ("standard", "conversational")


@dataclass(frozen=True)
class LabelParams:
    max_candidates: int = 16  # per problem, after deduplication
    mutants: bool = True  # offline candidates: the reference's mutants
    seed: int = 0
    batch_size: int = 8
    llm_samples: int = 0  # when an llm is configured: requests per problem (each with llm.n choices)
    budget_s: float = 10.0  # wall-clock budget per candidate (tests past it count as not passed)
    require_isolated: bool = True  # reject problems whose suite has a test that runs as code

    def __post_init__(self):
        if self.max_candidates < 1 or self.batch_size < 1 or self.llm_samples < 0:
            raise ValueError("max_candidates and batch_size must be >= 1, llm_samples >= 0")


@dataclass(frozen=True)
class PairParams:
    rule: str = "plum"  # plum: chosen passes all, rejected fails one; acecoder: ratio >= 0.8, gap >= 0.4
    max_pairs_per_prompt: int = 4
    format: str = "standard"  # or conversational (TRL message lists)
    seed: int = 0
    min_chosen_ratio: float = 0.8  # acecoder
    min_gap: float = 0.4  # acecoder
    require_isolated: bool = True  # pair only candidates whose every verdict was judged on the host

    def __post_init__(self):
        if self.rule not in RULES:
            raise ValueError(f"rule must be one of: {', '.join(RULES)} (got {self.rule!r})")
        if self.format not in FORMATS:
            raise ValueError(f"format must be one of: {', '.join(FORMATS)} (got {self.format!r})")
        if self.max_pairs_per_prompt < 1:
            raise ValueError("max_pairs_per_prompt must be >= 1")


def _rng(seed: int, key: str) -> random.Random:
    return random.Random(int.from_bytes(hashlib.sha256(f"{seed}\0{key}".encode()).digest()[:8], "big"))


def normal_form(program: str) -> str | None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return ast.dump(ast.parse(program))
    except (SyntaxError, ValueError):
        return None


def candidates(tests_row: dict, extra: list[tuple[str, str]], params: LabelParams) -> list[tuple[str, str]]:
    """[(program, origin)] for a problem: model samples and source candidates first, then the
    reference and its mutants; same-up-to-formatting programs once; at most `max_candidates`."""
    out = list(extra)
    out += [(c, "source") for c in tests_row.get("candidates") or []]
    out.append((tests_row["reference"], "reference"))
    if params.mutants:
        rng = _rng(params.seed, tests_row["problem_id"])
        out += [(src, "mutant") for _, src in make_mutants(tests_row["reference"], params.max_candidates * 2, rng)]
    seen, unique = set(), []
    for program, origin in out:
        key = normal_form(program) or program  # a program that does not parse is still a candidate
        if key not in seen:
            seen.add(key)
            unique.append((program, origin))
    return unique[:params.max_candidates]


def label_rows(rows: list[dict], extra: dict[str, list[tuple[str, str]]], params: LabelParams,
               run: Callable[[list[Task]], list[ExecResult]]) -> list[list[dict] | Exception]:
    """Every candidate of every problem against that problem's suite, in one sandbox round."""
    tasks, owners = [], []
    per_row: list[list[tuple[str, str]] | Exception] = []
    for i, row in enumerate(rows):
        if not row.get("tests"):
            per_row.append(NotLabelled("no_valid_tests", "the problem has no test suite"))
            continue
        in_process = [t["assert_src"] for t in row["tests"] if (t.get("trust") or trust_of(t["assert_src"])) != "isolated"]
        if params.require_isolated and in_process:
            per_row.append(NotLabelled("not_isolated", f"{len(in_process)} of {len(row['tests'])} tests run as code "
                                                       f"(verdicts a program could forge), e.g. {in_process[0][:300]!r}"))
            continue
        cands = candidates(row, extra.get(row["problem_id"], []), params)
        per_row.append(cands)
        srcs = [t["assert_src"] for t in row["tests"]]
        for program, _ in cands:
            # after a timeout the rest is skipped (counted as not passed): pass ratios are lower bounds
            tasks.append(Task(program, srcs, timeout_s=row.get("timeout_s") or 1.0, max_timeouts=1,
                              budget_s=params.budget_s))
            owners.append(i)
    results = iter(run(tasks))
    out: list[list[dict] | Exception] = []
    for i, row in enumerate(rows):
        cands = per_row[i]
        if isinstance(cands, Exception):
            out.append(cands)
            continue
        labelled = []
        for program, origin in cands:
            r = next(results)
            verdicts = [t.get("verdict", "failed") for t in r.tests] or [r.verdict]
            passed = sum(v == "passed" for v in verdicts)
            labelled.append({
                "problem_id": row["problem_id"],
                "prompt": row["prompt"],
                "completion": program,
                "origin": origin,
                "verdicts": verdicts,
                "pass_ratio": round(passed / len(verdicts), 6),
                "verdict": r.verdict,
                "label": r.verdict == "passed",
                "n_tests": len(row["tests"]),
                "trust": "isolated" if r.tests and r.isolated else "in_process",
            })
        out.append(labelled)
    return out


class NotLabelled(Exception):
    def __init__(self, reason: str, detail: str):
        super().__init__(f"{reason}: {detail}")
        self.reason, self.detail = reason, detail


def pairs(labels: list[dict], params: PairParams) -> list[tuple[dict, dict]]:
    """Chosen/rejected pairs of one prompt, by the configured rule, at most max_pairs_per_prompt."""
    if params.require_isolated:
        labels = [c for c in labels if c.get("trust", "isolated") == "isolated"]
    if params.rule == "plum":
        chosen = [c for c in labels if c["label"]]
        rejected = [c for c in labels if not c["label"]]
        ok = lambda c, r: True  # noqa: E731
    else:
        chosen = [c for c in labels if c["pass_ratio"] >= params.min_chosen_ratio]
        rejected = list(labels)
        ok = lambda c, r: c["pass_ratio"] - r["pass_ratio"] >= params.min_gap  # noqa: E731
    key = lambda c: (c["origin"], c["completion"])  # noqa: E731
    combos = [(c, r) for c in sorted(chosen, key=key) for r in sorted(rejected, key=key) if c is not r and ok(c, r)]
    _rng(params.seed, labels[0]["problem_id"] if labels else "").shuffle(combos)
    return combos[:params.max_pairs_per_prompt]


def first_failure(verdicts: list[str]) -> str:
    return next((v for v in verdicts if v != "passed"), "passed")
