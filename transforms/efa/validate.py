"""The EFA unit tests, run in order and stopped at the first failure, each recorded:

1. is_extractable: one Python block defining `Problem` with all five members (no execution);
2. is_executable: `original()`, `sample()`, `render()`, `solve()` run within the sandbox's limits;
3. has_dof: k samples give at least 2 distinct rendered problems;
4. is_single_valued: `solve()` gives the same answer twice for the same instance, and again in a
   fresh process, for each sample;
5. matches_original: `original().solve()` equals the seed's final answer, by HF `math-verify`.
Then variants: valid EFAs sample new instances (problem text, answer, parameters).

Limits are not verdicts. A candidate over `MAX_RESPONSE_CHARS`, a test of it that runs past its
work budget, an answer comparison past its own (see `matching.py`), or a failure of the sandbox
or of the answer server gives a `Limit` (reason `too_large`, `budget_exceeded`, `sandbox_error`,
`matcher_error`) instead of a verdict: the stage rejects that candidate rather than record it as
an invalid EFA. The work budget of a test is
counted, not timed: `MAX_STEPS` trace events (every call, and every line of the EFA's own code),
the same on an idle and a loaded machine (the sandbox fixes the hash seed and forks each test
from the same warm state); the sandbox's wall clock (`BACKSTOP_S` per test) is only a backstop
for work the count cannot see, and running into it is `budget_exceeded` too.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

from codekiln.transforms.efa.contract import TESTS, Invalid, extract
from codekiln.transforms.efa.matching import (
    AnswerLimit,
    AnswerServerError,
    MatchError,
    default_matcher,
)
from codekiln.transforms.execution.sandbox import ExecResult, Task

MAX_RESPONSE_CHARS = 20_000  # a candidate's text: a model's response or the program as given
MAX_STEPS = 10_000_000  # trace events per test in the sandbox (typical EFAs: under 100,000)
BACKSTOP_S = 60.0  # the sandbox's wall clock per test: a backstop, not the budget
BUDGET = "__EfaBudget"  # the exception a test raises when its steps run out

# Appended to every EFA program: answers as (repr, LaTeX) with sympy, and the step count, under
# names an EFA won't use.
_PRELUDE = r'''

import json as __efa_json
import random as __efa_random
import sys as __efa_sys
from fractions import Fraction as __efa_Fraction


class __EfaBudget(BaseException):
    pass


__efa_steps = [0]


def __efa_run(thunk):
    """thunk(), counted: every call, and every line of this program, against the test's budget."""
    n, limit = __efa_steps, __EFA_MAX_STEPS__

    def mine(frame, event, arg):
        n[0] += 1
        if n[0] > limit:
            raise __EfaBudget(f"more than {limit} steps")
        return mine

    def every(frame, event, arg):
        n[0] += 1
        if n[0] > limit:
            raise __EfaBudget(f"more than {limit} steps")
        return mine if frame.f_code.co_filename == "<program>" else None

    __efa_sys.settrace(every)
    try:
        value = thunk()
    finally:
        __efa_sys.settrace(None)
    if n[0] > limit:  # the program caught the budget's exception: still over it
        raise __EfaBudget(f"more than {limit} steps")
    return value


def __efa_canon(x):
    import sympy as sp

    def latex(v):
        if isinstance(v, bool):
            raise TypeError("a bool is not an answer")
        if isinstance(v, __efa_Fraction):
            return sp.latex(sp.Rational(v.numerator, v.denominator))
        if isinstance(v, int):
            return str(v)
        if isinstance(v, float):
            return repr(v)
        if isinstance(v, str):
            return v
        if isinstance(v, tuple):
            return "\\left( " + ", ".join(latex(e) for e in v) + " \\right)"
        if isinstance(v, sp.Basic):
            return sp.latex(v)
        raise TypeError(f"an answer of type {type(v).__name__} is not allowed")

    return [repr(x), latex(x)]
'''


def prelude(max_steps: int = MAX_STEPS) -> str:
    return _PRELUDE.replace("__EFA_MAX_STEPS__", str(int(max_steps)))


PRELUDE = prelude()

# Every call into the program goes through __efa_run (counted); the checks stay in the test code,
# where the harness compares strictly.
EXECUTABLE = """
__o = __efa_run(lambda: Problem.original())
__r = __efa_run(lambda: __o.render())
assert isinstance(__r, str) and __efa_run(lambda: __r.strip()), "original().render() must return the problem text"
__a = __efa_run(lambda: __efa_canon(__o.solve()))
__s = __efa_run(lambda: Problem.sample(__efa_random.Random(0)))
assert isinstance(__efa_run(lambda: __s.render()), str), "render() must return text"
__efa_run(lambda: __efa_canon(__s.solve()))
__codekiln_value__ = __efa_run(lambda: __efa_json.dumps({"render": __r, "answer": __a}))
"""

DOF = """
__codekiln_value__ = __efa_run(lambda: __efa_json.dumps(
    [Problem.sample(__efa_random.Random(__i)).render() for __i in range({k})]))
"""

SINGLE_VALUED = """
__answers = []
for __i in range({k}):
    __p = __efa_run(lambda: Problem.sample(__efa_random.Random(__i)))
    __a1, __a2 = __efa_run(lambda: __efa_canon(__p.solve())), __efa_run(lambda: __efa_canon(__p.solve()))
    assert __a1 == __a2, f"solve() gave {{__a1[0]}} then {{__a2[0]}} for sample {{__i}}"
    __answers.append(__a1)
__codekiln_value__ = __efa_run(lambda: __efa_json.dumps(__answers))
"""

VARIANTS = """
def __variants():
    out = []
    for seed in range({start}, {start} + {n}):
        p = Problem.sample(__efa_random.Random(seed))
        out.append({{"seed": seed, "problem": p.render(), "answer": __efa_canon(p.solve()),
                     "params": __efa_json.dumps(vars(p), default=repr, sort_keys=True)}})
    return __efa_json.dumps(out)
__codekiln_value__ = __efa_run(__variants)
"""

RECOMPUTE = """
__codekiln_value__ = __efa_json.dumps(__efa_canon(Problem.sample(__efa_random.Random({seed})).solve()))
"""


@dataclass
class Candidate:
    seed_id: str
    seed_answer: str  # LaTeX or a number (GSM8K: the text after ####)
    text: str  # the model's response or the program as given


@dataclass
class Verdict:
    program: str | None
    tests: list[dict]  # [{name, passed, reason}] in order, up to the first failure
    valid: bool
    original: dict | None  # {"render", "answer": [repr, latex]}

    @property
    def failed_test(self) -> str | None:
        return None if self.valid else self.tests[-1]["name"]

    @property
    def reason(self) -> str | None:
        return None if self.valid else self.tests[-1]["reason"]


@dataclass
class Limit:
    """No verdict for this candidate: `reason` is too_large, budget_exceeded, sandbox_error or
    matcher_error."""

    reason: str
    detail: str


class _NoVerdict(Exception):
    def __init__(self, reason: str, detail: str):
        super().__init__(detail)
        self.limit = Limit(reason, detail[:2000])


class Malformed(ValueError):
    """A test's returned value is missing or not the shape the harness code writes (a program
    tampering with its process can send anything)."""


def _value(result: ExecResult, index: int):
    try:
        text = result.value(index)  # decoded strictly on the host
        if not isinstance(text, str):
            raise Malformed(f"a {type(text).__name__}, not the JSON text the test writes")
        return json.loads(text)
    except (ValueError, RecursionError) as e:
        raise Malformed(str(e)[:200]) from None


def _over_budget(name: str, max_steps: int, backstop_s: float) -> _NoVerdict:
    # one text whichever limit it was (the count or the backstop): the reject does not depend on the machine
    return _NoVerdict("budget_exceeded", f"{name}: over the budget of {max_steps:,} steps per test ({backstop_s:g} s)")


def _why(result: ExecResult, index: int, name: str, max_steps: int = MAX_STEPS,
         backstop_s: float = BACKSTOP_S) -> str | None:
    """None if test `index` (for the unit test `name`) passed, else why not; raises _NoVerdict
    when it ran out of its budget or the sandbox failed (no verdict either way)."""
    if result.verdict == "sandbox_error":
        raise _NoVerdict("sandbox_error", f"{name}: {result.message}")
    if result.program_error:
        e = result.program_error
        if e.get("verdict") == "timeout":
            raise _over_budget(name, max_steps, backstop_s)
        return f"the program does not load: {e.get('type')}: {e.get('message')}"
    t = result.tests[index]
    if t["verdict"] == "timeout" or (t["verdict"] == "failed" and t.get("type") == BUDGET):
        raise _over_budget(name, max_steps, backstop_s)
    if t["verdict"] == "passed":
        try:
            _value(result, index)
        except Malformed as e:
            return f"failed: non_data_result {e}"
        return None
    return f"{t['verdict']}: {t.get('type') or ''} {t.get('message') or ''}".strip()


def answers_match(seed_answer: str, latex: str) -> bool:
    """By math-verify, from any thread (see `matching.py`); raises AnswerLimit past the limits."""
    return default_matcher().match(seed_answer, latex)


def validate(candidates: list[Candidate], run: Callable[[list[Task]], list[ExecResult]], k: int = 10,
             timeout_s: float = BACKSTOP_S, match: Callable[[str, str], bool] | None = None,
             max_steps: int = MAX_STEPS) -> list[Verdict | Limit]:
    """A Verdict per candidate, or a Limit when it cannot have one. `match(seed_answer, latex)`
    compares answers (default: the process's `AnswerMatcher`)."""
    match = match or answers_match
    tail = prelude(max_steps)
    verdicts: list[Verdict | Limit | None] = [None] * len(candidates)
    programs: dict[int, str] = {}
    for i, c in enumerate(candidates):
        if len(c.text) > MAX_RESPONSE_CHARS:
            verdicts[i] = Limit("too_large", f"the candidate has {len(c.text)} characters (at most {MAX_RESPONSE_CHARS})")
            continue
        try:
            programs[i] = extract(c.text)
        except Invalid as e:
            verdicts[i] = Verdict(None, [{"name": e.test, "passed": False, "reason": e.reason}], False, None)
    order = sorted(programs)
    first = run([Task(programs[i] + tail, [EXECUTABLE, DOF.format(k=k), SINGLE_VALUED.format(k=k)],
                      timeout_s=timeout_s, max_timeouts=1) for i in order])  # past a backstop: no verdict anyway
    again = run([Task(programs[i] + tail, [SINGLE_VALUED.format(k=k)], timeout_s=timeout_s) for i in order])
    for i, r1, r2 in zip(order, first, again, strict=True):
        tests = [{"name": "is_extractable", "passed": True, "reason": None}]
        verdict = verdicts[i] = Verdict(programs[i], tests, False, None)
        try:
            _judge(r1, r2, candidates[i], k, verdict, tests, match, max_steps, timeout_s)
        except _NoVerdict as e:
            verdicts[i] = e.limit
        except (ValueError, KeyError, TypeError, IndexError, AttributeError, StopIteration) as e:  # forged values
            verdict.valid = False
            name = TESTS[min(len(tests), len(TESTS) - 1)]
            tests.append({"name": name, "passed": False, "reason": f"a malformed result: {type(e).__name__}: {e}"[:2000]})
    assert all(v is not None for v in verdicts)
    assert all(len(v.tests) <= len(TESTS) for v in verdicts if isinstance(v, Verdict))
    return verdicts


def _judge(r1, r2, candidate: Candidate, k: int, verdict: Verdict, tests: list[dict], match,
           max_steps: int = MAX_STEPS, backstop_s: float = BACKSTOP_S) -> None:
    """Tests 2-5 of one candidate from its two runs, appended to `tests` up to the first failure."""

    def why_not(result, index, name):
        return _why(result, index, name, max_steps, backstop_s)

    def fail(name, why, tests=tests):
        tests.append({"name": name, "passed": False, "reason": why[:2000]})

    why = why_not(r1, 0, "is_executable")
    if why:
        fail("is_executable", why)
        return
    tests.append({"name": "is_executable", "passed": True, "reason": None})
    original = _value(r1, 0)
    verdict.original = original
    why = why_not(r1, 1, "has_dof")
    renders = _value(r1, 1) if why is None else []
    if why or len(set(renders)) < 2:
        fail("has_dof", why or f"{k} samples rendered {len(set(renders))} distinct problem(s)")
        return
    tests.append({"name": "has_dof", "passed": True, "reason": None})
    why = why_not(r1, 2, "is_single_valued") or why_not(r2, 0, "is_single_valued")
    if why:
        fail("is_single_valued", why)
        return
    a1, a2 = _value(r1, 2), _value(r2, 0)
    if a1 != a2:
        j = next(n for n, (x, y) in enumerate(zip(a1, a2, strict=True)) if x != y)
        fail("is_single_valued", f"sample {j}: {a1[j][0]} in one process, {a2[j][0]} in another")
        return
    tests.append({"name": "is_single_valued", "passed": True, "reason": None})
    seed, latex = candidate.seed_answer, original["answer"][1]
    if not isinstance(latex, str):
        raise TypeError(f"the answer's LaTeX is a {type(latex).__name__}")
    try:
        ok = match(seed, latex)
    except AnswerLimit as e:
        raise _NoVerdict(e.reason, f"matches_original: {e.detail}") from None
    except AnswerServerError as e:
        raise _NoVerdict("matcher_error", f"matches_original: {e}") from None
    except MatchError as e:  # math-verify failed on this input (the same on every run): no match, with why
        ok, seed = False, f"{seed} ({type(e).__name__}: {e})"
    if not ok:
        fail("matches_original", f"original().solve() = {latex}, the seed's answer is {seed}")
        return
    tests.append({"name": "matches_original", "passed": True, "reason": None})
    verdict.valid = True


def sample_variants(programs: list[str], n: int, start: int, run,
                    timeout_s: float = BACKSTOP_S) -> list[list[dict] | str | Limit]:
    """n instances of each valid EFA, or why it could not sample (a string), or a Limit."""
    results = run([Task(p + PRELUDE, [VARIANTS.format(start=start, n=n)], timeout_s=timeout_s) for p in programs])
    out = []
    for r in results:
        try:
            why = _why(r, 0, "variants", MAX_STEPS, timeout_s) \
                if r.tests or r.program_error or r.verdict == "sandbox_error" else f"{r.verdict}: {r.message}"
        except _NoVerdict as e:
            out.append(e.limit)
            continue
        if not why:
            variants = _value(r, 0)
            ok = isinstance(variants, list) and all(
                isinstance(v, dict) and isinstance(v.get("problem"), str) and isinstance(v.get("answer"), list)
                and len(v["answer"]) == 2 and all(isinstance(a, str) for a in v["answer"]) for v in variants)
            why = None if ok else "failed: non_data_result variants of the wrong shape"
        out.append(why if why else variants)
    return out


def recompute(program: str, seed: int) -> Task:
    """A task whose value is the answer of the instance sampled with `seed` (a fresh process)."""
    return Task(program + PRELUDE, [RECOMPUTE.format(seed=seed)], timeout_s=BACKSTOP_S)
