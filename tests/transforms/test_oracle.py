"""The differential oracle's parts: packed tests judged assert by assert, the reference's work
counted (never timed) with its branches, and labels decided by suite, pool and fresh inputs."""

import json
import subprocess
import sys

import pytest
from codekiln.transforms.execution import SandboxConfig, SandboxPool, Task
from codekiln.transforms.preferences.core import LabelParams, label_rows
from codekiln.transforms.testgen import traced
from codekiln.transforms.testgen.suite import (
    Problem,
    TestgenParams,
    Verified,
    answers,
    build_suites,
    judge_programs,
    reference_tasks,
    run_traced,
)

from tests.conftest import REPO


@pytest.fixture(scope="module")
def pool():
    with SandboxPool(SandboxConfig(pool_size=2, timeout_s=2, cache=False)) as p:
        yield p


# -- several traced calls in one process, judged on the host -------------------------------

def test_each_input_gets_its_own_verdict_from_the_host(pool):
    program = ("def f(x):\n"
               "    if x == 2:\n        return -1\n"
               "    if x == 3:\n        raise ValueError(x)\n"
               "    if x == 4:\n        while True:\n            x += 1\n"
               "    return x * 0.5\n")
    inputs = [(x,) for x in range(6)]
    r = pool.run(reference_tasks(program, inputs, "f", 10_000, max_timeouts=1))
    got = [traced.verdict(rec, x * 0.5 + 1e-12) for rec, (x,) in zip(answers(r, 6), inputs, strict=True)]
    # wrong value, raised, too slow by count (not by clock); the other inputs still judged
    assert got == ["passed", "passed", "failed", "failed", "too_slow", "passed"]
    assert all(t["trust"] == "isolated" for t in r.tests)


def test_answers_the_clock_cut_off_are_asked_again_and_come_out_the_same(pool, monkeypatch):
    """A busy machine makes a process of probes outlive its 5 s backstop: what it cut off must be
    answered again, not turned into timeouts (that changed `tests` rows under load)."""
    program = ("def f(x):\n    s = 0\n    for i in range(x * 3000):\n        s += i % 7\n"
               "    if x == 9:\n        while True:\n            pass\n    return s\n")
    inputs = [(x,) for x in range(12)]
    jobs = [(program, inputs, "f", 10**6, ["assert f(1) == f(1)"], 3)]
    calm = run_traced(pool.run_many, jobs)[0]
    monkeypatch.setattr("codekiln.transforms.testgen.suite.FIRST_PASS_S", 0.01)  # every process cut at once
    rushed = run_traced(pool.run_many, jobs)[0]
    a, b = answers(calm, 12, 1), answers(rushed, 12, 1)
    assert [t["verdict"] for t in a] == [t["verdict"] for t in b]
    assert [t.get("value") for t in a] == [t.get("value") for t in b]
    assert traced.too_slow(a[9]) and sum(t["verdict"] == "passed" for t in a) == 11
    assert rushed.tests[0]["verdict"] == calm.tests[0]["verdict"] == "passed"


def test_a_program_that_does_not_load_is_wrong_on_every_input(pool):
    v = Verified(inputs=[(1,), (2,)], expected=[1, 2])
    (o,) = judge_programs([("def f(x) return x\n", "f", v, ["assert f(1) == 1"], 10_000, 1.0)], pool.run_many)
    assert not o.loaded and o.pool == [o.pool[0]] * 2 and o.pool[0] != "passed"


# -- the reference's work, counted ----------------------------------------------------------

FIB = "def fib(n):\n    if n < 2:\n        return n\n    return fib(n - 1) + fib(n - 2)\n"


def test_traced_work_is_a_count_the_same_on_every_run(pool):
    probes = [traced.probe("fib(12)", 10**5), traced.probe("fib(40)", 10**5)]
    a, b = (pool.run(Task(FIB, probes, timeout_s=5)) for _ in range(2))
    value, steps, arcs = traced.decode(a.tests[0]["value"])
    assert value == 144 and steps > 1000 and a.tests[0]["value"] == b.tests[0]["value"]
    assert {(2, 3), (2, 4)} <= arcs  # both sides of the branch were taken
    assert a.tests[1]["verdict"] == "failed" and traced.too_slow(a.tests[1])  # past the count, not a clock


def test_a_program_cannot_hide_its_work_by_catching_the_signal(pool):
    swallow = ("def g(n):\n    t = 0\n    for i in range(n):\n        try:\n            t += i\n"
               "        except BaseException:\n            pass\n    return t\n")
    r = pool.run(Task(swallow, [traced.probe("g(10**6)", 10**4)], timeout_s=5))
    assert r.tests[0]["verdict"] != "passed"


def test_traced_results_are_checked_on_the_host():
    from codekiln.transforms.execution import values
    for bad in ([1, 2], (1, "x", []), (1, 2, [(1, "a")])):
        with pytest.raises(values.NonData):
            traced.decode(_wire(bad))


def _wire(value) -> str:
    """`value` in the harness's wire form (the strict encoder the sandbox uses)."""
    from codekiln.transforms.execution import harness
    return harness.encode_text(value, 1 << 20)


# -- the differential oracle ----------------------------------------------------------------

PROMPT = 'def f(xs):\n    """The sum of the positive numbers in xs."""\n'
REFERENCE = PROMPT + "    return sum(x for x in xs if x > 0)\n"
ORIGINAL = "def check(candidate):\n    assert candidate([1, -2, 3]) == 4\n    assert candidate([]) == 0\n" \
           "    assert candidate([5, 6, -1, 2, -3, 8]) == 21\n\ncheck(f)\n"


@pytest.fixture(scope="module")
def suite_row(pool):
    problem = Problem("p", "p", PROMPT, REFERENCE, "f", [ORIGINAL])
    (suite,) = build_suites([problem], pool.run_many, TestgenParams(pool_size=40, max_mutants=10, heldout_mutants=5))
    return dict(suite, id="p")


def _label(pool, row, completion, **params):
    (labels,) = label_rows([row], {"p": [(PROMPT + completion, "sample:x")]}, LabelParams(mutants=False, **params),
                           pool.run_many)
    return next(r for r in labels if r["origin"] == "sample:x")


def test_the_oracle_says_which_inputs_told_a_wrong_program_apart(pool, suite_row):
    weak = dict(suite_row, tests=suite_row["tests"][:1])  # only the original asserts
    long_input = max((json.loads(json.dumps(t["input"])) for t in suite_row["pool"]), key=len)
    assert len(eval(long_input)[0]) > 6  # noqa: S307 - our own literal
    wrong = "    return sum(x for x in xs if x > 0) if len(xs) <= 6 else -1\n"
    lab = _label(pool, weak, wrong)
    assert lab["suite_passed"] and lab["original_passed"] and not lab["label"]
    assert lab["oracle"] == "pool" and len(eval(lab["first_difference"])[0]) > 6  # noqa: S307
    # with a pool of short inputs only, the fresh inputs inside the contract catch it
    short = dict(weak, pool=[t for t in suite_row["pool"] if len(eval(t["input"])[0]) <= 6])  # noqa: S307
    lab = _label(pool, short, wrong, fuzz_inputs=60)
    assert lab["oracle"] == "fuzz" and lab["n_fuzz"] > 0 and lab["pool_agrees"] and lab["fuzz_agrees"] is False
    assert _label(pool, short, wrong, fuzz_inputs=0)["label"]  # the suite and that pool alone accept it
    right = "    total = 0\n    for x in xs:\n        if x > 0:\n            total += x\n    return total\n"
    lab = _label(pool, suite_row, right, fuzz_inputs=60)
    assert lab["label"] and lab["oracle"] is None and lab["fuzz_agrees"] and lab["n_pool"] > 0


def test_labels_are_the_same_with_another_hash_seed(suite_row, tmp_path):
    """The fresh inputs, the candidates and their order do not depend on PYTHONHASHSEED."""
    row = tmp_path / "row.json"
    row.write_text(json.dumps(suite_row))
    script = ("import json, sys\nfrom codekiln.transforms.preferences.core import LabelParams, fuzz_inputs, candidates\n"
              f"row = json.load(open({str(row)!r}))\n"
              "p = LabelParams(fuzz_inputs=50)\n"
              "print(json.dumps([repr(a) for a in fuzz_inputs(row, p)] + [c.program for c in candidates(row, [], p)]))\n")
    outs = {subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, check=True,
                           env={"PYTHONHASHSEED": seed, "PATH": ""}).stdout for seed in ("0", "4242")}
    assert len(outs) == 1 and len(json.loads(outs.pop())) > 50


def test_seeds_recorded_from_a_test_that_draws_inputs_are_only_the_reproducible_ones(pool):
    from codekiln.transforms.testgen.suite import _recorded_seeds

    test = ("import os, random\n\ndef check(candidate):\n    assert candidate(1) == 2\n"
            "    for _ in range(3):\n        x = random.randint(0, 10**6)\n        assert candidate(x) == x + 1\n"
            "    y = int.from_bytes(os.urandom(4), 'big')\n    assert candidate(y) == y + 1\n\ncheck(f)\n")
    problem = Problem("p", "p", "", "def f(x):\n    return x + 1\n", "f", [test])
    got = _recorded_seeds([problem], pool.run_many)[id(problem)]
    again = _recorded_seeds([problem], pool.run_many)[id(problem)]
    assert got == again and got[0] == (1,) and len(got) == 4  # 1, the 3 seeded draws; never urandom's
