"""Test-suite generation (EvalPlus-style, made stricter), verified by execution in the sandbox.

Per problem:
1. seed inputs from the existing tests (+ a model's, when configured); an input *contract*
   inferred from them, the signature and the docstring (`contract.py`); a pool of inputs grown
   inside the contract by type-aware mutation;
2. the reference on every input, traced (`traced.py`): its output (the expected value), the work
   it took (inputs past `max_steps` are dropped: counted, never timed) and the branches it took;
   inputs on which it raises or returns a non-literal are dropped, counted. What survives is the
   verified *pool*, shipped with the row: the differential oracle of `labels` runs all of it;
3. mutants of the part of the reference a model writes (`mutants.py`), split by seed into a
   reduction set and a held-out set, traced on every pool input (judged on the host; past a step
   budget it is too slow, by count) and run against the original tests. A mutant no test kills
   is *equivalent* by the oracle, never counted as killable;
4. the shipped suite: the original tests, then greedy set cover of the reduction mutants (and the
   source's real samples, when it has some), then the reference's uncovered branches, then a floor
   of `min_tests` generated tests; its mutation score is measured on the held-out mutants only,
   so the figure can fail.

Nothing here reads a clock into a row: costs are counts, budgets rules over them (`timeout_for`).
Problems are processed in batches so each phase is one `run_many` over the sandbox pool.
"""

from __future__ import annotations

import dataclasses
import hashlib
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from codekiln.transforms import pyast
from codekiln.transforms.execution import asserts, values
from codekiln.transforms.execution.sandbox import ExecResult, Task
from codekiln.transforms.rng import seeded_rng
from codekiln.transforms.testgen import contract as contracts
from codekiln.transforms.testgen import traced
from codekiln.transforms.testgen.inputs import call_source, seed_inputs
from codekiln.transforms.testgen.mutants import mutants as make_mutants


@dataclass(frozen=True)
class TestgenParams:
    __test__ = False  # not a pytest test class, despite the name
    pool_size: int = 60  # distinct inputs tried on the reference (the verified pool is what survives)
    max_mutants: int = 40  # mutants the suite is reduced against
    heldout_mutants: int = 20  # mutants only the mutation score sees
    min_tests: int = 5  # generated tests every suite keeps at least (besides the original tests)
    seed: int = 0
    # a candidate's budget per test (a packed chunk gets twice it), a rule over counts, never a
    # measured time: min_timeout_s + seconds_per_step x the reference's most traced work on an input
    min_timeout_s: float = 0.25
    max_timeout_s: float = 2.0
    seconds_per_step: float = 5e-6
    max_steps: int = 200_000  # the reference's traced work per input (calls + lines); past it: dropped
    # a program under test may take step_factor x the reference's largest work + step_slack events
    # per input before it counts as too slow: a count, so a mutant's or candidate's fate never
    # depends on the machine's load (the clock is only a backstop: `timeout_s`)
    step_factor: int = 20
    step_slack: int = 20_000
    batch_size: int = 8  # problems per sandbox round
    max_problem_chars: int = 50_000  # reference + original tests; a larger problem: a too_large reject

    def __post_init__(self):
        if self.pool_size < 1 or self.max_mutants < 0 or self.heldout_mutants < 0 or self.batch_size < 1:
            raise ValueError("pool_size and batch_size must be >= 1, max_mutants and heldout_mutants >= 0")
        if self.max_problem_chars < 1:
            raise ValueError("max_problem_chars must be >= 1")
        if not 0 < self.min_timeout_s <= self.max_timeout_s or self.seconds_per_step < 0:
            raise ValueError("min_timeout_s must be > 0 and <= max_timeout_s, seconds_per_step >= 0")
        if self.max_steps < 1000 or self.min_tests < 0 or self.step_factor < 1:
            raise ValueError("max_steps must be >= 1000, min_tests >= 0, step_factor >= 1")

    def step_budget(self, steps: list[int]) -> int:
        """Trace events a program under test may spend per input, given the reference's `steps`."""
        return self.step_factor * max(steps, default=0) + self.step_slack

    def timeout_for(self, steps: list[int]) -> float:
        """The per-test budget for programs judged against a reference whose inputs took `steps`."""
        budget = self.min_timeout_s + self.seconds_per_step * max(steps, default=0)
        return round(min(self.max_timeout_s, budget), 3)


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
    samples: list[str] = field(default_factory=list)  # real programs for the problem, if any


class NoSuite(Exception):
    def __init__(self, reason: str, detail: str):
        super().__init__(f"{reason}: {detail}")
        self.reason, self.detail = reason, detail


def runnable_tests(tests: list[str], tests_kind: str, entry_point: str) -> list[str]:
    """The problem's own tests as sandbox tests (HumanEval's `check` is called on the entry point)."""
    if tests_kind == "check_function":
        return [t + f"\n\ncheck({entry_point})\n" for t in tests]
    return list(tests)


def assert_line(entry_point: str, args: tuple, expected) -> str:
    call = call_source(entry_point, args)
    if values.has_float(expected):
        return f"assert _close({call}, {expected!r})"
    return f"assert {call} == {expected!r}"


def assert_source(entry_point: str, args: tuple, expected) -> str:
    """A generated test: judged on the host (`asserts.split` reads both shapes), and runnable
    on its own. Floats compare with the one tolerance rule (`values.close`)."""
    line = assert_line(entry_point, args, expected)
    return (values.CLOSE_HELPER + line) if line.startswith("assert _close(") else line


def trust_of(assert_src: str) -> str:
    """`isolated` when the host judges the test, `in_process` when it has to run as code."""
    return "isolated" if asserts.split(assert_src) is not None else "in_process"


def first_line(program: str, prompt: str) -> int:
    """The first line of what a model writes: after the prompt when the program starts with it."""
    if prompt and program.replace("\r\n", "\n").startswith(prompt.replace("\r\n", "\n")):
        return prompt.replace("\r\n", "\n").count("\n") + 1
    return 1


def _literal(value):
    """`value` if it can be written as a literal that reads back equal, else ValueError."""
    if not values.is_finite(value):
        raise ValueError("not finite")
    text = repr(value)
    back = pyast.literal_eval(text)
    if back != value or type(back) is not type(value):
        raise ValueError("does not round-trip")
    return value


def rng_for(seed: int, problem_id: str, what: str) -> random.Random:
    return seeded_rng(seed, problem_id, what)


def _rank(seed: int, what: str, text: str) -> bytes:
    return hashlib.sha256(f"{seed}\0{what}\0{text}".encode()).digest()


# ---------------------------------------------------------------------------------------------
# the reference's outputs


@dataclass
class Verified:
    """Inputs the reference answered, with what it answered, the work and the branches."""

    inputs: list[tuple] = field(default_factory=list)
    origins: list[str] = field(default_factory=list)
    expected: list = field(default_factory=list)
    steps: list[int] = field(default_factory=list)
    arcs: list[frozenset] = field(default_factory=list)
    dropped: Counter = field(default_factory=Counter)
    llm_failures: list[dict] = field(default_factory=list)  # model-proposed inputs dropped, with why

    def tests(self, entry_point: str) -> list[dict]:
        out = []
        for args, origin, exp in zip(self.inputs, self.origins, self.expected, strict=True):
            src = assert_source(entry_point, args, exp)
            out.append({"input": repr(args), "expected": repr(exp), "assert_src": src, "origin": origin,
                        "trust": trust_of(src)})
        return out


PROBES_PER_PROCESS = 10  # traced reference calls sharing one process


FIRST_PASS_S = 5.0  # the clock of a process of probes: a backstop (`run_traced` asks again what it cut)


def reference_tasks(program: str, inputs: list[tuple], entry_point: str, max_steps: int,
                    before: list[str] = (), max_timeouts: int = 3) -> Task:
    """The program on every input, traced, `PROBES_PER_PROCESS` calls to a process (after the
    tests `before`). The clock is a backstop only: the step budget decides what is too slow."""
    calls = [call_source(entry_point, a) for a in inputs]
    packs = [traced.probes(calls[k:k + PROBES_PER_PROCESS], max_steps)
             for k in range(0, len(calls), PROBES_PER_PROCESS)]
    return Task(program, list(before) + packs, timeout_s=FIRST_PASS_S, max_timeouts=max_timeouts)


def _by_clock(t: dict) -> bool:
    """A record the clock decided (the process's time ran out, or it was skipped after that)."""
    return t.get("verdict") in ("timeout", "not_run") or bool(t.get("skipped"))


def backstop_s(max_steps: int) -> float:
    """A clock for one traced call that only a hang reaches: 10 s plus 10 us per allowed event
    (tracing runs at over a million events a second on an idle core)."""
    return 10.0 + 1e-5 * max_steps


def run_traced(run, jobs: list[tuple]) -> list[ExecResult]:
    """`reference_tasks` for each job (program, inputs, entry_point, max_steps, before,
    max_timeouts), run; then every answer the clock decided (its process cut off by the 5 s
    backstop, or skipped after that) is asked again alone, with a clock only a hang reaches.
    So what a busy machine takes longer to answer is still answered, and the same way."""
    results = run([reference_tasks(prog, inputs, entry, steps, before, max_timeouts)
                   for prog, inputs, entry, steps, before, max_timeouts in jobs])
    redo, plans = [], []
    for k, ((prog, inputs, entry, steps, before, _), r) in enumerate(zip(jobs, results, strict=True)):
        if r.verdict == "sandbox_error" or r.program_error:
            continue
        plan = []  # (test index, pack position or None, pack size, the test asked again)
        for i, t in enumerate(r.tests[:len(before)]):
            if _by_clock(t):
                plan.append((i, None, 1, before[i]))
        for n in range(0, len(inputs), PROBES_PER_PROCESS):
            i, size = len(before) + n // PROBES_PER_PROCESS, min(PROBES_PER_PROCESS, len(inputs) - n)
            t = r.tests[i] if i < len(r.tests) else {"verdict": "not_run"}
            for q, rec in enumerate(traced.records(t, size)):
                if _by_clock(rec):
                    plan.append((i, q, size, traced.probe(call_source(entry, inputs[n + q]), steps)))
        if plan:
            plans.append((k, plan))
            redo.append(Task(prog, [test for *_, test in plan], timeout_s=backstop_s(steps),
                             max_timeouts=1))
    for (k, plan), again in zip(plans, run(redo) if redo else [], strict=True):
        r = results[k]
        tests = [dict(t) for t in r.tests]
        for (i, q, size, _), t in zip(plan, again.tests + [{"verdict": "not_run"}] * len(plan), strict=False):
            if q is None:
                tests[i] = t
                continue
            recs = list(traced.records(tests[i], size))
            recs[q] = traced.records(t, 1)[0]
            tests[i] = {"verdict": "passed", "trust": tests[i].get("trust", t.get("trust")), "values": recs}
        results[k] = dataclasses.replace(r, tests=tests)
    return results


def _llm_failure(kind: str, text: str, reason: str, message: str | None) -> dict:
    """A model's proposal that was not used, kept as training-data provenance."""
    return {"kind": kind, "text": text[:2000], "reason": reason, "message": (message or "")[:500] or None}


def verified(result: ExecResult, inputs: list[tuple], origins: list[str], offset: int) -> Verified:
    """Read the reference's traced answers (tests `offset..`, made by `reference_tasks`)."""
    v = Verified()
    seen = set()
    for args, origin, t in zip(inputs, origins, answers(result, len(inputs), offset), strict=True):
        if t["verdict"] != "passed":
            reason = ("reference_slow" if traced.too_slow(t) else "reference_skipped" if t.get("skipped")
                      else "reference_" + t["verdict"])
            v.dropped[reason] += 1
            if origin == "llm":
                v.llm_failures.append(_llm_failure("input", repr(args), reason, t.get("message")))
            continue
        try:
            value, steps, arcs = traced.decode(t["value"])
            expected = _literal(value)
        except (values.NonData, ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            v.dropped["not_a_literal"] += 1
            if origin == "llm":
                v.llm_failures.append(_llm_failure("input", repr(args), "not_a_literal", None))
            continue
        key = repr(args)
        if key in seen:
            continue
        seen.add(key)
        v.inputs.append(args)
        v.origins.append(origin)
        v.expected.append(expected)
        v.steps.append(steps)
        v.arcs.append(arcs)
    return v


# ---------------------------------------------------------------------------------------------
# the method


@dataclass
class _Work:
    problem: Problem
    contract: contracts.Contract | None = None
    inputs: list[tuple] = field(default_factory=list)
    origins: list[str] = field(default_factory=list)
    pool: Verified = field(default_factory=Verified)
    pool_tests: list[dict] = field(default_factory=list)
    timeout_s: float = 1.0
    step_budget: int = 0

    @property
    def singles(self) -> list[str]:
        return [t["assert_src"] for t in self.originals + self.llm_tests]
    originals: list[dict] = field(default_factory=list)
    llm_tests: list[dict] = field(default_factory=list)
    dropped: Counter = field(default_factory=Counter)
    llm_failures: list[dict] = field(default_factory=list)
    reduce_set: list[tuple[str, str]] = field(default_factory=list)  # (kind, source)
    heldout: list[str] = field(default_factory=list)
    error: NoSuite | None = None

    @property
    def all_tests(self) -> list[dict]:
        return self.originals + self.llm_tests + self.pool_tests


def build_suites(problems: list[Problem], run: Callable[[list[Task]], list[ExecResult]],
                 params: TestgenParams) -> list[dict | NoSuite]:
    works = [_Work(p) for p in problems]
    recorded = _recorded_seeds(problems, run)
    for w in works:
        _inputs(w, params, recorded.get(id(w.problem), []))

    # 1. the reference: its own tests, then every input, traced
    live = [w for w in works if w.error is None]
    jobs = [(w.problem.reference, w.inputs, w.problem.entry_point, params.max_steps,
             w.problem.original_tests + w.problem.llm_asserts, 3) for w in live]
    for w, result in zip(live, run_traced(run, jobs), strict=True):
        _reference(w, result, params)

    # 2. mutants (reduction + held-out) and real samples: traced on every pool input, then the
    #    original (and model) tests for those that were not too slow
    live = [w for w in works if w.error is None]
    programs = []
    for w in live:
        _mutant_sets(w, params)
        programs += [(w, src) for src in [s for _, s in w.reduce_set] + w.heldout]
    outcomes = judge_programs([(src, w.problem.entry_point, w.pool, w.singles, w.step_budget, w.timeout_s)
                               for w, src in programs], run)
    by_work: dict[int, list[Outcome]] = {}
    for (w, _), o in zip(programs, outcomes, strict=True):
        by_work.setdefault(id(w), []).append(o)
    return [w.error if w.error is not None else _reduce(w, by_work.get(id(w), []), params) for w in works]


@dataclass
class Outcome:
    """A program judged against a reference: one verdict per pool input (host-judged from its
    traced answers) and per single test (`None`: not run, the program was already too slow)."""

    loaded: bool
    pool: list[str]
    singles: list[str] | None
    trust: str = "isolated"

    @property
    def too_slow(self) -> bool:
        return "too_slow" in self.pool


def judge_programs(jobs: list[tuple], run) -> list[Outcome]:
    """jobs: (program, entry_point, Verified pool, single tests, step budget, timeout_s). Two
    rounds: every program traced on its pool inputs; then its single tests, unless it loads not
    or was too slow (it is wrong either way, and would only spend its time limit)."""
    first = run_traced(run, [(prog, pool.inputs, entry, budget, (), 1) for prog, entry, pool, _, budget, _ in jobs])
    outcomes, again, owners = [], [], []
    for k, ((prog, _, pool, singles, _, timeout), r) in enumerate(zip(jobs, first, strict=True)):
        loaded = r.verdict != "sandbox_error" and not (r.program_error and r.program_error.get("verdict") != "passed")
        verdicts = [traced.verdict(rec, exp) for rec, exp in zip(answers(r, len(pool.inputs)), pool.expected,
                                                                 strict=True)] if loaded else \
            [r.verdict] * len(pool.inputs)
        outcomes.append(Outcome(loaded, verdicts, None, "isolated" if r.isolated else "in_process"))
        if loaded and "too_slow" not in verdicts and singles:
            again.append(Task(prog, list(singles), timeout_s=max(2.0, 4 * timeout), max_timeouts=1))
            owners.append(k)
    for k, r in zip(owners, _settle_singles(run, again, run(again)) if again else [], strict=True):
        o = outcomes[k]
        o.singles = [t.get("verdict", "failed") for t in r.tests] + ["failed"] * (len(jobs[k][3]) - len(r.tests))
        if r.program_error:
            o.singles = [r.verdict] * len(jobs[k][3])
        o.trust = "isolated" if o.trust == "isolated" and r.isolated else "in_process"
    return outcomes


SINGLES_BACKSTOP_S = 30.0


def _settle_singles(run, tasks: list[Task], results: list[ExecResult]) -> list[ExecResult]:
    """Single tests the clock decided, asked again alone with a clock only a hang reaches."""
    redo = [(k, [i for i, t in enumerate(r.tests) if _by_clock(t)]) for k, r in enumerate(results)
            if r.verdict != "sandbox_error" and not r.program_error]
    redo = [(k, idx) for k, idx in redo if idx]
    tasks2 = [Task(tasks[k].program, [tasks[k].tests[i] for i in idx], timeout_s=SINGLES_BACKSTOP_S, max_timeouts=1)
              for k, idx in redo]
    for (k, idx), again in zip(redo, run(tasks2) if tasks2 else [], strict=True):
        tests = list(results[k].tests)
        for i, t in zip(idx, again.tests + [{"verdict": "not_run"}] * len(idx), strict=False):
            tests[i] = t
        results[k] = dataclasses.replace(results[k], tests=tests)
    return results


def answers(result: ExecResult, n: int, offset: int = 0) -> list[dict]:
    """The per-input records of a `reference_tasks` run of `n` inputs (its probes from test `offset`)."""
    out = []
    for k in range(0, n, PROBES_PER_PROCESS):
        i = offset + k // PROBES_PER_PROCESS
        t = result.tests[i] if i < len(result.tests) else {"verdict": "not_run"}
        out += traced.records(t, min(PROBES_PER_PROCESS, n - k))
    return out


RECORDER = """
import copy as __ck_copy
import random as __ck_random
__ck_random.seed(0)
__ck_calls = []

def __ck_record(__ck_f):
    def __ck_recorded(*args, **kwargs):
        if not kwargs and len(__ck_calls) < 200:
            try:
                __ck_calls.append(__ck_copy.deepcopy(args))
            except Exception:
                pass
        return __ck_f(*args, **kwargs)
    return __ck_recorded
"""


def recording_test(test: str, entry_point: str) -> str:
    """A test that runs as code, rewritten to record the arguments it calls the function with
    (returned as its value): the seeds of tests that draw their inputs at run time."""
    tail = f"check({entry_point})\n"
    if test.endswith(tail):
        body = test[:-len(tail)] + f"check(__ck_record({entry_point}))\n"
    else:
        body = f"{entry_point} = __ck_record({entry_point})\n" + test
    return RECORDER + body + "\n__codekiln_value__ = __ck_calls\n"


def _recorded_seeds(problems: list[Problem], run) -> dict[int, list[tuple]]:
    """Seeds of the original tests that run as code, recorded while the reference passes them."""
    asks = [(p, t) for p in problems if p.reference.strip() for t in p.original_tests if asserts.split(t) is None]
    if not asks:
        return {}
    out: dict[int, list[tuple]] = {}
    # twice: `random` is seeded, but a test may draw from elsewhere (its own Random(), the
    # clock, os.urandom); only calls both runs made are seeds, so the pool stays reproducible
    tasks = [Task(p.reference, [recording_test(t, p.entry_point) + f"# run {k}\n"], timeout_s=SINGLES_BACKSTOP_S)
             for k in (1, 2) for p, t in asks]  # two tasks, so a cache cannot answer the second
    results = run(tasks)
    for (p, _), r, again in zip(asks, results[:len(asks)], results[len(asks):], strict=True):
        calls, also = _calls(r), {repr(a) for a in _calls(again)}
        out.setdefault(id(p), []).extend(a for a in calls if repr(a) in also)
    return out


def _calls(r: ExecResult) -> list[tuple]:
    try:
        calls = r.value(0) if r.passed else []
    except values.NonData:
        return []
    out = []
    for args in calls if isinstance(calls, list) else []:
        try:
            if isinstance(args, tuple):
                out.append(_literal(args))  # only what reads back as a literal
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            continue
    return out


def _inputs(w: _Work, params: TestgenParams, recorded: list[tuple] = ()) -> None:
    p = w.problem
    if not p.reference.strip():
        w.error = NoSuite("no_reference", "the problem has no reference solution")
        return
    seeds = seed_inputs(p.original_tests + p.llm_asserts, p.entry_point)
    known = {repr(s) for s in seeds}
    for args in recorded:
        if repr(args) not in known and len(seeds) < 50:
            known.add(repr(args))
            seeds.append(args)
    w.contract = contracts.infer(seeds, p.prompt, p.reference, p.entry_point)
    seen = {repr(s) for s in seeds}
    llm = []
    for a in p.llm_inputs:
        if repr(a) in seen:
            continue
        if not w.contract.admits(a):
            w.dropped["llm_input_outside_contract"] += 1
            w.llm_failures.append(_llm_failure("input", repr(a), "llm_input_outside_contract", None))
            continue
        seen.add(repr(a))
        llm.append(a)
    room = max(0, params.pool_size - len(seeds) - len(llm))
    grown = contracts.generate(w.contract, seeds + llm, room, rng_for(params.seed, p.problem_id, "inputs"),
                               exclude=seen)
    w.inputs = seeds + llm + grown
    w.origins = ["original"] * len(seeds) + ["llm"] * len(llm) + ["mutation"] * len(grown)


def _reference(w: _Work, result: ExecResult, params: TestgenParams) -> None:
    p = w.problem
    if result.verdict == "sandbox_error":
        w.error = NoSuite("sandbox_error", result.message or "the sandbox failed")
        return
    if result.program_error:
        w.error = NoSuite("reference_fails", f"the reference does not load: {result.program_error}")
        return
    n_orig, n_llm = len(p.original_tests), len(p.llm_asserts)
    bad = next((r for r in result.tests[:n_orig] if r["verdict"] != "passed"), None)
    if bad is not None:
        w.error = NoSuite("reference_fails", f"the reference fails its own tests: {bad}")
        return
    w.originals = [{"input": None, "expected": None, "assert_src": src, "origin": "original",
                    "trust": trust_of(src)} for src in p.original_tests]
    for src, r in zip(p.llm_asserts, result.tests[n_orig:n_orig + n_llm], strict=True):
        if r["verdict"] == "passed":  # kept only if the reference passes it
            w.llm_tests.append({"input": None, "expected": None, "assert_src": src, "origin": "llm",
                                "trust": trust_of(src)})
        else:
            w.dropped["llm_assert_fails_reference"] += 1
            w.llm_failures.append(_llm_failure("assert", src, "llm_assert_fails_reference",
                                               f"{r['verdict']}: {r.get('message') or ''}".strip(": ")))
    w.pool = verified(result, w.inputs, w.origins, n_orig + n_llm)
    w.pool_tests = w.pool.tests(p.entry_point)
    w.timeout_s = params.timeout_for(w.pool.steps)
    w.step_budget = params.step_budget(w.pool.steps)
    w.dropped.update(w.pool.dropped)
    w.llm_failures.extend(w.pool.llm_failures)
    if not w.pool.inputs and not w.originals:
        w.error = NoSuite("no_valid_tests", f"no input gave a usable expected output ({dict(w.dropped)})")


def _mutant_sets(w: _Work, params: TestgenParams) -> None:
    p = w.problem
    total = params.max_mutants + params.heldout_mutants
    found = make_mutants(p.reference, total, rng_for(params.seed, p.problem_id, "mutants"),
                         first_line=first_line(p.reference, p.prompt)) if total else []
    order = sorted(range(len(found)), key=lambda i: _rank(params.seed, "heldout", found[i][1]))
    n_held = min(params.heldout_mutants, len(found) * params.heldout_mutants // max(total, 1))
    held = set(order[:n_held])
    w.heldout = [found[i][1] for i in range(len(found)) if i in held]
    w.reduce_set = [("mutant", found[i][1]) for i in range(len(found)) if i not in held]
    w.reduce_set += [("sample", s) for s in p.samples]


def kill_matrix(outcomes: list[Outcome], n_singles: int, n_pool: int) -> list[set[int]]:
    """test (singles, then pool inputs) -> the programs (indexes into `outcomes`) it tells
    apart from the reference. A program that does not load is told apart by any test."""
    kills: list[set[int]] = [set() for _ in range(n_singles + n_pool)]
    for m, o in enumerate(outcomes):
        if not o.loaded:
            for k in kills:
                k.add(m)
            continue
        for t, v in enumerate(o.singles or []):
            if v != "passed":
                kills[t].add(m)
        for i, v in enumerate(o.pool):
            if v not in ("passed", "not_run"):
                kills[n_singles + i].add(m)
    return kills


def _reduce(w: _Work, results: list[Outcome], params: TestgenParams) -> dict:
    n_single = len(w.originals) + len(w.llm_tests)
    n_orig = len(w.originals)
    tests = w.all_tests
    kills = kill_matrix(results, n_single, len(w.pool_tests))
    n_reduce = len(w.reduce_set)
    reduce_ids, held_ids = set(range(n_reduce)), set(range(n_reduce, n_reduce + len(w.heldout)))
    killable = set().union(*kills) if kills else set()
    mutant_ids = {i for i, (kind, _) in enumerate(w.reduce_set) if kind == "mutant"} | held_ids
    equivalent = mutant_ids - killable

    chosen = list(range(n_orig))
    covered = set().union(*kills[:n_orig]) & reduce_ids if n_orig else set()
    target = killable & reduce_ids
    remaining = set(range(n_orig, len(tests)))

    def take(t: int) -> None:
        chosen.append(t)
        remaining.discard(t)

    while covered != target and remaining:  # 1. greedy set cover of the reduction set
        best = max(sorted(remaining), key=lambda t: len((kills[t] & reduce_ids) - covered))
        if not (kills[best] & reduce_ids) - covered:
            break
        take(best)
        covered |= kills[best] & reduce_ids
    arcs_of = {n_single + i: a for i, a in enumerate(w.pool.arcs)}
    all_arcs = frozenset().union(*arcs_of.values()) if arcs_of else frozenset()
    seen_arcs = set().union(*(arcs_of.get(t, frozenset()) for t in chosen))
    while remaining:  # 2. the reference's branches no chosen test takes
        best = max(sorted(remaining), key=lambda t: len(arcs_of.get(t, frozenset()) - seen_arcs))
        if not arcs_of.get(best, frozenset()) - seen_arcs:
            break
        take(best)
        seen_arcs |= arcs_of[best]
    rest = sorted(remaining, key=lambda t: _rank(params.seed, w.problem.problem_id, tests[t]["assert_src"]))
    outputs = {tests[t]["expected"] for t in chosen}
    rest.sort(key=lambda t: tests[t]["expected"] in outputs)  # new outputs first (stable)
    for t in rest:  # 3. the floor: never just the original asserts
        if len(chosen) - n_orig >= params.min_tests:
            break
        take(t)
    chosen_set = set(chosen)
    seen_arcs = set().union(*(arcs_of.get(t, frozenset()) for t in chosen))
    suite = [tests[t] for t in chosen]
    suite_kills = set().union(*(kills[t] for t in chosen_set)) if chosen_set else set()
    held_killable = held_ids & killable
    p = w.problem
    return {
        "problem_id": p.problem_id,
        "entry_point": p.entry_point,
        "prompt": p.prompt,
        "reference": p.reference,
        "tests": suite,
        "n_tests": len(suite),
        "pool": w.pool_tests,
        "n_pool": len(w.pool_tests),
        "contract": w.contract.to_json() if w.contract is not None else None,
        "mutation_score": round(len(covered) / len(target), 6) if target else None,
        "heldout_mutation_score": round(len(suite_kills & held_killable) / len(held_killable), 6)
        if held_killable else None,
        "original_mutation_score": round(len(set().union(*kills[:n_orig]) & held_killable) / len(held_killable), 6)
        if held_killable and n_orig else None,
        "n_mutants": len(mutant_ids),
        "n_heldout": len(held_ids),
        "n_killable": len(killable & mutant_ids),
        "n_equivalent": len(equivalent),
        "branch_coverage": round(len(seen_arcs) / len(all_arcs), 6) if all_arcs else None,
        "n_candidate_tests": len(tests),
        "dropped_inputs": dict(sorted(w.dropped.items())),
        "llm_failures": w.llm_failures,
        "timeout_s": w.timeout_s,
        "step_budget": w.step_budget,
    }
