"""The EFA unit tests, run in order and stopped at the first failure, each recorded:

1. is_extractable: one Python block defining `Problem` with all five members (no execution);
2. is_executable: `original()`, `sample()`, `render()`, `solve()` run within the sandbox's limits;
3. has_dof: k samples give at least 2 distinct rendered problems;
4. is_single_valued: `solve()` gives the same answer twice for the same instance, and again in a
   fresh process, for each sample;
5. matches_original: `original().solve()` equals the seed's final answer, by HF `math-verify`.
Then variants: valid EFAs sample new instances (problem text, answer, parameters).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

from transforms.efa.contract import TESTS, Invalid, extract
from transforms.execution.sandbox import ExecResult, Task

# Appended to every EFA program: answers as (repr, LaTeX) with sympy, under names an EFA won't use.
PRELUDE = r'''

import json as __efa_json
import random as __efa_random
from fractions import Fraction as __efa_Fraction


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

EXECUTABLE = """
__o = Problem.original()
__r = __o.render()
assert isinstance(__r, str) and __r.strip(), "original().render() must return the problem text"
__a = __efa_canon(__o.solve())
__s = Problem.sample(__efa_random.Random(0))
assert isinstance(__s.render(), str), "render() must return text"
__efa_canon(__s.solve())
__codekiln_value__ = __efa_json.dumps({"render": __r, "answer": __a})
"""

DOF = """
__codekiln_value__ = __efa_json.dumps([Problem.sample(__efa_random.Random(__i)).render() for __i in range({k})])
"""

SINGLE_VALUED = """
__answers = []
for __i in range({k}):
    __p = Problem.sample(__efa_random.Random(__i))
    __a1, __a2 = __efa_canon(__p.solve()), __efa_canon(__p.solve())
    assert __a1 == __a2, f"solve() gave {{__a1[0]}} then {{__a2[0]}} for sample {{__i}}"
    __answers.append(__a1)
__codekiln_value__ = __efa_json.dumps(__answers)
"""

VARIANTS = """
__out = []
for __seed in range({start}, {start} + {n}):
    __p = Problem.sample(__efa_random.Random(__seed))
    __out.append({{"seed": __seed, "problem": __p.render(), "answer": __efa_canon(__p.solve()),
                   "params": __efa_json.dumps(vars(__p), default=repr, sort_keys=True)}})
__codekiln_value__ = __efa_json.dumps(__out)
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


def _why(result: ExecResult, index: int) -> str | None:
    """None if test `index` passed, else why not."""
    if result.verdict == "sandbox_error":
        return f"sandbox error: {result.message}"
    if result.program_error:
        e = result.program_error
        return f"the program does not load: {e.get('type')}: {e.get('message')}"
    t = result.tests[index]
    if t["verdict"] == "passed":
        try:
            _value(result, index)
        except Malformed as e:
            return f"failed: non_data_result {e}"
        return None
    return f"{t['verdict']}: {t.get('type') or ''} {t.get('message') or ''}".strip()


def answers_match(seed_answer: str, latex: str) -> bool:
    from math_verify import parse, verify

    gold = parse(f"${seed_answer}$")
    pred = parse(f"${latex}$")
    return bool(gold) and bool(pred) and bool(verify(gold, pred))


def validate(candidates: list[Candidate], run: Callable[[list[Task]], list[ExecResult]], k: int = 10,
             timeout_s: float = 5.0) -> list[Verdict]:
    verdicts: list[Verdict | None] = [None] * len(candidates)
    programs: dict[int, str] = {}
    for i, c in enumerate(candidates):
        try:
            programs[i] = extract(c.text)
        except Invalid as e:
            verdicts[i] = Verdict(None, [{"name": e.test, "passed": False, "reason": e.reason}], False, None)
    order = sorted(programs)
    first = run([Task(programs[i] + PRELUDE, [EXECUTABLE, DOF.format(k=k), SINGLE_VALUED.format(k=k)],
                      timeout_s=timeout_s) for i in order])
    again = run([Task(programs[i] + PRELUDE, [SINGLE_VALUED.format(k=k)], timeout_s=timeout_s) for i in order])
    for i, r1, r2 in zip(order, first, again, strict=True):
        tests = [{"name": "is_extractable", "passed": True, "reason": None}]
        verdicts[i] = Verdict(programs[i], tests, False, None)
        try:
            _judge(r1, r2, candidates[i], k, verdicts[i], tests)
        except (ValueError, KeyError, TypeError, IndexError, AttributeError, StopIteration) as e:  # forged values
            verdicts[i].valid = False
            name = TESTS[min(len(tests), len(TESTS) - 1)]
            tests.append({"name": name, "passed": False, "reason": f"a malformed result: {type(e).__name__}: {e}"[:2000]})
    assert all(v is not None for v in verdicts)
    assert all(len(v.tests) <= len(TESTS) for v in verdicts)
    return verdicts


def _judge(r1, r2, candidate: Candidate, k: int, verdict: Verdict, tests: list[dict]) -> None:
    """Tests 2-5 of one candidate from its two runs, appended to `tests` up to the first failure."""

    def fail(name, why, tests=tests):
        tests.append({"name": name, "passed": False, "reason": why[:2000]})

    why = _why(r1, 0)
    if why:
        fail("is_executable", why)
        return
    tests.append({"name": "is_executable", "passed": True, "reason": None})
    original = _value(r1, 0)
    verdict.original = original
    why = _why(r1, 1)
    renders = _value(r1, 1) if why is None else []
    if why or len(set(renders)) < 2:
        fail("has_dof", why or f"{k} samples rendered {len(set(renders))} distinct problem(s)")
        return
    tests.append({"name": "has_dof", "passed": True, "reason": None})
    why = _why(r1, 2) or _why(r2, 0)
    if why:
        fail("is_single_valued", why)
        return
    a1, a2 = _value(r1, 2), _value(r2, 0)
    if a1 != a2:
        j = next(n for n, (x, y) in enumerate(zip(a1, a2, strict=True)) if x != y)
        fail("is_single_valued", f"sample {j}: {a1[j][0]} in one process, {a2[j][0]} in another")
        return
    tests.append({"name": "is_single_valued", "passed": True, "reason": None})
    seed = candidate.seed_answer
    try:
        ok = answers_match(seed, original["answer"][1])
    except Exception as e:  # noqa: BLE001 - math-verify on odd input: a failed match, with why
        ok, seed = False, f"{seed} ({type(e).__name__})"
    if not ok:
        fail("matches_original", f"original().solve() = {original['answer'][1]}, the seed's answer is {seed}")
        return
    tests.append({"name": "matches_original", "passed": True, "reason": None})
    verdict.valid = True


def sample_variants(programs: list[str], n: int, start: int, run, timeout_s: float = 10.0) -> list[list[dict] | str]:
    """n instances of each valid EFA (or why it could not sample)."""
    results = run([Task(p + PRELUDE, [VARIANTS.format(start=start, n=n)], timeout_s=timeout_s) for p in programs])
    out = []
    for r in results:
        why = _why(r, 0) if r.tests or r.program_error else f"{r.verdict}: {r.message}"
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
    return Task(program + PRELUDE, [RECOMPUTE.format(seed=seed)], timeout_s=10.0)
