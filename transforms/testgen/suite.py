"""Test-suite generation (EvalPlus-style, improved), verified by execution in the sandbox.

Per problem: seed inputs from the existing tests (+ a model's inputs and asserts, when one is
configured), grown by type-aware mutation; expected outputs from the reference solution (inputs
on which it raises, times out or returns a non-literal are dropped, counted); mutants of the
reference run against every test; the suite is reduced by greedy set cover to the fewest tests
that kill every killable mutant, plus the original tests. Problems are processed in batches so
each phase is one `run_many` over the sandbox pool.
"""

from __future__ import annotations

import ast
import hashlib
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from transforms.execution import asserts, values
from transforms.execution.sandbox import ExecResult, Probe, Task
from transforms.testgen.inputs import call_source, grow_inputs, seed_inputs
from transforms.testgen.mutants import mutants as make_mutants


@dataclass(frozen=True)
class TestgenParams:
    __test__ = False  # not a pytest test class, despite the name
    pool_size: int = 40  # distinct inputs before reduction
    max_mutants: int = 40
    seed: int = 0
    timeout_factor: float = 20.0  # candidate per-test budget: this x the reference's slowest test
    min_timeout_s: float = 0.25
    max_timeout_s: float = 2.0  # also the reference's budget per input
    max_input_time_s: float = 0.05  # inputs on which the reference is slower are dropped (counted)
    reference_budget_s: float = 10.0  # for computing all expected outputs of one problem
    mutant_budget_s: float = 3.0  # per mutant
    batch_size: int = 8  # problems per sandbox round

    def __post_init__(self):
        if self.pool_size < 1 or self.max_mutants < 0 or self.batch_size < 1:
            raise ValueError("pool_size and batch_size must be >= 1, max_mutants >= 0")
        if not 0 < self.min_timeout_s <= self.max_timeout_s:
            raise ValueError("min_timeout_s must be > 0 and <= max_timeout_s")


@dataclass
class Problem:
    id: str
    problem_id: str
    prompt: str
    reference: str
    entry_point: str
    original_tests: list[str]  # runnable test code (a check function is followed by its call)
    llm_inputs: list[tuple] = field(default_factory=list)
    llm_asserts: list[str] = field(default_factory=list)


class NoSuite(Exception):
    def __init__(self, reason: str, detail: str):
        super().__init__(f"{reason}: {detail}")
        self.reason, self.detail = reason, detail


def runnable_tests(tests: list[str], tests_kind: str, entry_point: str) -> list[str]:
    """The problem's own tests as sandbox tests (HumanEval's `check` is called on the entry point)."""
    if tests_kind == "check_function":
        return [t + f"\n\ncheck({entry_point})\n" for t in tests]
    return list(tests)


def assert_source(entry_point: str, args: tuple, expected) -> str:
    """A generated test: judged on the host (`asserts.split` reads both shapes), and runnable
    on its own. Floats compare with the one tolerance rule (`values.close`)."""
    call = call_source(entry_point, args)
    if values.has_float(expected):
        return values.CLOSE_HELPER + f"assert _close({call}, {expected!r})"
    return f"assert {call} == {expected!r}"


def trust_of(assert_src: str) -> str:
    """`isolated` when the host judges the test, `in_process` when it has to run as code."""
    return "isolated" if asserts.split(assert_src) is not None else "in_process"


def _literal(result: ExecResult, index: int):
    """The reference's output (decoded strictly on the host) if it can be written as a literal
    that reads back equal, or raise ValueError."""
    value = result.value(index)
    if not values.is_finite(value):
        raise ValueError("not finite")
    text = repr(value)
    if ast.literal_eval(text) != value or type(ast.literal_eval(text)) is not type(value):
        raise ValueError("does not round-trip")
    return value


def _rng(seed: int, problem_id: str, what: str) -> random.Random:
    digest = hashlib.sha256(f"{seed}\0{problem_id}\0{what}".encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


@dataclass
class _Work:
    problem: Problem
    inputs: list[tuple] = field(default_factory=list)
    origins: list[str] = field(default_factory=list)
    tests: list[dict] = field(default_factory=list)  # candidate tests (generated + kept llm asserts)
    originals: list[dict] = field(default_factory=list)
    dropped: Counter = field(default_factory=Counter)
    reference_time_s: float = 0.0
    timeout_s: float = 1.0
    mutants: list[tuple[str, str]] = field(default_factory=list)
    error: NoSuite | None = None


def build_suites(problems: list[Problem], run: Callable[[list[Task]], list[ExecResult]],
                 params: TestgenParams) -> list[dict | NoSuite]:
    works = [_Work(p) for p in problems]
    for w in works:
        p = w.problem
        if not p.reference.strip():
            w.error = NoSuite("no_reference", "the problem has no reference solution")
            continue
        seeds = seed_inputs(p.original_tests + p.llm_asserts, p.entry_point)
        llm = [a for a in p.llm_inputs if repr(a) not in {repr(s) for s in seeds}]
        grown = grow_inputs(seeds + llm, params.pool_size, _rng(params.seed, p.problem_id, "inputs"))
        origin = {repr(s): "original" for s in seeds} | {repr(a): "llm" for a in llm}
        w.inputs = grown
        w.origins = [origin.get(repr(a), "mutation") for a in grown]

    # 1. the reference: outputs for every input, and it must pass its own tests
    live = [w for w in works if w.error is None]
    ref_tasks = []
    for w in live:
        p = w.problem
        value_tests = [Probe(call_source(p.entry_point, a)) for a in w.inputs]
        # its own tests first: a slow generated input must not crowd them out
        ref_tasks.append(Task(p.reference, p.original_tests + p.llm_asserts + value_tests,
                              timeout_s=params.max_timeout_s, max_timeouts=3, budget_s=params.reference_budget_s))
    for w, result in zip(live, run(ref_tasks), strict=True):
        _reference_outputs(w, result, params)

    # 2. mutants against every test
    live = [w for w in works if w.error is None]
    mut_tasks, owners = [], []
    for w in live:
        w.mutants = make_mutants(w.problem.reference, params.max_mutants,
                                 _rng(params.seed, w.problem.problem_id, "mutants"))
        sources = [t["assert_src"] for t in w.originals + w.tests]
        for _, src in w.mutants:
            mut_tasks.append(Task(src, sources, timeout_s=w.timeout_s, max_timeouts=1,
                                  budget_s=params.mutant_budget_s))
            owners.append(w)
    results = run(mut_tasks)
    by_work: dict[int, list[ExecResult]] = {}
    for w, r in zip(owners, results, strict=True):
        by_work.setdefault(id(w), []).append(r)

    out: list[dict | NoSuite] = []
    for w in works:
        if w.error is not None:
            out.append(w.error)
            continue
        out.append(_reduce(w, by_work.get(id(w), []), params))
    return out


def _reference_outputs(w: _Work, result: ExecResult, params: TestgenParams) -> None:
    p = w.problem
    if result.verdict == "sandbox_error":
        w.error = NoSuite("sandbox_error", result.message or "the sandbox failed")
        return
    if result.program_error:
        w.error = NoSuite("reference_fails", f"the reference does not load: {result.program_error}")
        return
    n_orig, n_llm = len(p.original_tests), len(p.llm_asserts)
    orig_results = result.tests[:n_orig]
    llm_results = result.tests[n_orig:n_orig + n_llm]
    value_results = result.tests[n_orig + n_llm:]
    if any(r["verdict"] != "passed" and not r.get("skipped") for r in orig_results):
        bad = next(r for r in orig_results if r["verdict"] != "passed")
        w.error = NoSuite("reference_fails", f"the reference fails its own tests: {bad}")
        return
    times = [r.get("duration_s", 0.0) for r in orig_results]
    times += [r.get("duration_s", 0.0) for r in value_results
              if r["verdict"] == "passed" and r.get("duration_s", 0.0) <= params.max_input_time_s]
    w.reference_time_s = round(sum(times), 6)
    slowest = max(times, default=0.0)
    w.timeout_s = round(min(params.max_timeout_s, max(params.min_timeout_s, params.timeout_factor * slowest)), 3)
    w.originals = [{"input": None, "expected": None, "assert_src": src, "origin": "original",
                    "trust": trust_of(src)} for src in p.original_tests]
    seen = set()
    n_before = n_orig + n_llm
    for j, (args, origin, r) in enumerate(zip(w.inputs, w.origins, value_results, strict=True)):
        if r["verdict"] != "passed":
            w.dropped["reference_skipped" if r.get("skipped") else "reference_" + r["verdict"]] += 1
            continue
        if r.get("duration_s", 0.0) > params.max_input_time_s and origin != "original":
            w.dropped["reference_slow"] += 1  # a heavy input would make every candidate slow
            continue
        try:
            expected = _literal(result, n_before + j)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            w.dropped["not_a_literal"] += 1
            continue
        src = assert_source(p.entry_point, args, expected)
        if src in seen:
            continue
        seen.add(src)
        w.tests.append({"input": repr(args), "expected": repr(expected), "assert_src": src, "origin": origin,
                        "trust": trust_of(src)})
    for src, r in zip(p.llm_asserts, llm_results, strict=True):
        if r["verdict"] == "passed" and src not in seen:  # kept only if the reference passes it
            seen.add(src)
            w.tests.append({"input": None, "expected": None, "assert_src": src, "origin": "llm",
                            "trust": trust_of(src)})
        elif r["verdict"] != "passed":
            w.dropped["llm_assert_fails_reference"] += 1
    if not w.tests and not w.originals:
        w.error = NoSuite("no_valid_tests", f"no input gave a usable expected output ({dict(w.dropped)})")


def _reduce(w: _Work, results: list[ExecResult], params: TestgenParams) -> dict:
    """Greedy set cover: originals first, then the test killing most not-yet-killed mutants."""
    n_orig = len(w.originals)
    all_tests = w.originals + w.tests
    kills: list[set[int]] = [set() for _ in all_tests]  # test -> mutants it kills
    for m, result in enumerate(results):
        for t, verdict in enumerate(result.tests):
            if verdict["verdict"] != "passed" and not verdict.get("skipped"):
                kills[t].add(m)
        if result.program_error and result.program_error.get("verdict") != "passed":
            for t in range(len(all_tests)):
                kills[t].add(m)  # a mutant that does not load is killed by any test
    killable = set().union(*kills) if kills else set()
    by_original = set().union(*kills[:n_orig]) if n_orig else set()
    chosen = list(range(n_orig))
    covered = set(by_original)
    remaining = set(range(n_orig, len(all_tests)))
    while covered != killable and remaining:
        best = max(sorted(remaining), key=lambda t: len(kills[t] - covered))
        if not kills[best] - covered:
            break
        chosen.append(best)
        covered |= kills[best]
        remaining.discard(best)
    if not w.originals and not (chosen[n_orig:] if len(chosen) > n_orig else []):
        chosen = [n_orig] if w.tests else chosen  # no mutant was killable: keep one test
    suite = [all_tests[t] for t in chosen]
    p = w.problem
    return {
        "problem_id": p.problem_id,
        "entry_point": p.entry_point,
        "prompt": p.prompt,
        "reference": p.reference,
        "tests": suite,
        "n_tests": len(suite),
        "mutation_score": round(len(covered) / len(killable), 6) if killable else 1.0,
        "original_mutation_score": round(len(by_original) / len(killable), 6) if killable else 1.0,
        "n_mutants": len(w.mutants),
        "n_killable": len(killable),
        "n_candidate_tests": len(all_tests),
        "dropped_inputs": dict(w.dropped),
        "timeout_s": w.timeout_s,
    }
