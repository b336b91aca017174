"""Mutants of reference solutions: realistic operators, the prompt left intact, balance, determinism."""

import ast
import json
import os
import random
import subprocess
import sys
from collections import Counter

import pytest
from codekiln.transforms.testgen.mutants import mutants

from tests.conftest import REPO

SIEVE_PROMPT = '''def count_primes(n: int) -> int:
    """Return the number of primes below n.
    >>> count_primes(10)
    4
    """
'''
SIEVE = SIEVE_PROMPT + """    if n < 3:
        return 0
    sieve = [True] * n
    sieve[0] = sieve[1] = False
    for i in range(2, int(n ** 0.5) + 1):
        if sieve[i]:
            for j in range(i * i, n, i):
                sieve[j] = False
    return sum(sieve)
"""

PALINDROME_PROMPT = '''def is_palindrome(string: str) -> bool:
    """ Test if given string is a palindrome """
    return string == string[::-1]


def make_palindrome(string: str) -> str:
    """ Find the shortest palindrome that begins with a supplied string.
    >>> make_palindrome('cat')
    'catac'
    """
'''
PALINDROME = PALINDROME_PROMPT + """    if not string:
        return ''
    beginning_of_suffix = 0
    while not is_palindrome(string[beginning_of_suffix:]):
        beginning_of_suffix += 1
    return string + string[:beginning_of_suffix][::-1]
"""

ACCUMULATE = '''def max_gap(xs: list) -> float:
    """Largest difference between neighbours; -inf for fewer than two."""
    best = float('-inf')
    for i in range(1, len(xs)):
        best = max(best, xs[i] - xs[i - 1])
    return best


def sum_above(xs: list, k: int) -> int:
    total = 0
    for x in xs:
        if x > k and x % 2 == 0:
            total += x
    return total
'''

GUARD = '''def below_zero(operations: list) -> bool:
    """Whether the balance ever drops below zero."""
    balance = 0
    for op in operations:
        balance += op
        if balance < 0:
            return True
    return False


def first_negative(xs: list) -> int:
    if not xs:
        return -1
    for i in range(len(xs)):
        if xs[i] < 0:
            return i
    return -1
'''

MISC = """def sum_until(xs: list, stop: int) -> int:
    total = 0
    for x in xs:
        if x < 0:
            continue
        if x == stop:
            break
        total += x
    return total


def sign(x: float) -> str:
    if x > 0:
        return 'positive'
    elif x < 0:
        return 'negative'
    else:
        return 'zero'


def half_mean(xs: list) -> float:
    return round(sum(xs) / len(xs) * 0.5, 2)


def by_size(xs: list) -> list:
    return sorted(xs, key=abs, reverse=True)


def inner(s: str) -> str:
    return s[1:-1]


def vowels(s: str) -> int:
    return len([c for c in s.lower() if c in 'aeiou'])
"""


def _first_line(prompt: str) -> int:
    return len(prompt.splitlines()) + 1


# program, first_line, operators it must get, calls to compare behaviour on (None: may loop)
PROGRAMS = {
    "sieve": (SIEVE, _first_line(SIEVE_PROMPT),
              {"off_by_one_range", "off_by_one_slice", "compare", "constant", "missing_branch", "arith",
               "omit_arg", "swap_args", "remove_statement"},
              [("count_primes", (n,)) for n in (0, 2, 3, 4, 10, 11, 25, 30)]),
    "palindrome": (PALINDROME, _first_line(PALINDROME_PROMPT),
                   {"off_by_one_slice", "drop_not", "accumulator_init", "arith", "missing_branch",
                    "early_return", "constant"}, None),
    "accumulate": (ACCUMULATE, 1,
                   {"accumulator_init", "off_by_one_range", "off_by_one_len", "off_by_one_slice",
                    "swap_operands", "compare", "boolean", "arith", "early_return", "swap_args", "omit_arg"},
                   [("max_gap", (xs,)) for xs in ([], [1], [5, 3, 1], [1, 4, 2, 9], [3, 3])]
                   + [("sum_above", (xs, k)) for xs, k in (([], 0), ([1, 2, 3, 4, 6], 2), ([2, 4], 4))]),
    "guard": (GUARD, 1,
              {"return_value", "early_return", "missing_branch", "accumulator_init", "off_by_one_len",
               "off_by_one_range", "compare", "drop_not"},
              [("below_zero", (ops,)) for ops in ([], [1, 2], [1, -2], [2, -1, -2], [-1])]
              + [("first_negative", (xs,)) for xs in ([], [1, 2], [-1], [3, -4, -5], [0, 0, -1])]),
    "misc": (MISC, 1,
             {"break_continue", "missing_branch", "constant", "omit_arg", "off_by_one_slice",
              "off_by_one_len", "compare", "arith"},
             [("sum_until", (xs, s)) for xs, s in (([1, -2, 3, 4, 5], 4), ([4, 1], 4), ([-1, 2], 9))]
             + [("sign", (x,)) for x in (-2, 0, 3)] + [("half_mean", ([1, 2, 4],)), ("half_mean", ([3],))]
             + [("by_size", ([3, -5, 1],)), ("inner", ("abcd",)), ("inner", ("",)), ("vowels", ("Banana Eo",))]),
}
ALL_OPERATORS = {"off_by_one_range", "off_by_one_slice", "off_by_one_len", "compare", "arith", "boolean",
                 "drop_not", "constant", "missing_branch", "accumulator_init", "swap_args", "omit_arg",
                 "swap_operands", "early_return", "break_continue", "remove_statement", "return_value"}


def _outcomes(src: str, calls) -> list:
    namespace: dict = {}
    exec(src, namespace)  # noqa: S102 - our own programs and their mutants, all with finite loops
    out = []
    for name, args in calls:
        try:
            out.append(repr(namespace[name](*(json.loads(json.dumps(a)) for a in args))))
        except Exception as e:  # a crash is a behaviour too
            out.append(type(e).__name__)
    return out


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_each_operator_family_appears_where_its_construct_is(name):
    program, first_line, expected, _ = PROGRAMS[name]
    ms = mutants(program, 1000, random.Random(0), first_line)
    assert expected <= {op for op, _ in ms}


def test_every_operator_is_implemented():
    ops = {op for program, first_line, _, _ in PROGRAMS.values()
           for op, _ in mutants(program, 1000, random.Random(1), first_line)}
    assert ops == ALL_OPERATORS


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_mutants_compile_differ_and_are_distinct(name):
    program, first_line, _, _ = PROGRAMS[name]
    original = ast.unparse(ast.parse(program))
    for limit in (5, 40, 1000):
        ms = mutants(program, limit, random.Random(limit), first_line)
        assert 0 < len(ms) <= limit
        assert len({src for _, src in ms}) == len(ms)
        for _, src in ms:
            assert src != original
            compile(src, "<mutant>", "exec")
            assert ast.dump(ast.parse(src)) != ast.dump(ast.parse(program))


def test_first_line_leaves_the_prompt_and_docstrings_intact():
    def functions(src):
        return {f.name: f for f in ast.parse(src).body if isinstance(f, ast.FunctionDef)}

    ms = mutants(PALINDROME, 1000, random.Random(0), _first_line(PALINDROME_PROMPT))
    assert len(ms) >= 15
    helper = ast.dump(functions(PALINDROME)["is_palindrome"])
    docstring = ast.get_docstring(functions(PALINDROME)["make_palindrome"])
    for _, src in ms:
        fs = functions(src)
        assert ast.dump(fs["is_palindrome"]) == helper
        assert ast.get_docstring(fs["make_palindrome"]) == docstring
        assert [ast.dump(a) for a in fs["make_palindrome"].args.args] == [
            ast.dump(a) for a in functions(PALINDROME)["make_palindrome"].args.args]
    # without first_line the helper is fair game, its docstring still is not
    everything = mutants(PALINDROME, 1000, random.Random(0))
    assert any(ast.dump(functions(src)["is_palindrome"]) != helper for _, src in everything)
    assert all(ast.get_docstring(functions(src)["is_palindrome"], clean=False) == " Test if given string is a palindrome "
               for _, src in everything)


def test_realistic_variants():
    def diffs(program, op, first_line=1):
        original = set(ast.unparse(ast.parse(program)).splitlines())
        return {line.strip() for o, src in mutants(program, 1000, random.Random(0), first_line) if o == op
                for line in src.splitlines() if line not in original}

    loop = "def f(n):\n    t = 0\n    for i in range(1, n):\n        t += i\n    return t\n"
    assert diffs(loop, "off_by_one_range") == {f"for i in range({r}):" for r in ("0, n", "2, n", "1, n - 1", "1, n + 1")}
    assert diffs(loop, "omit_arg") == {"for i in range(n):"}
    assert diffs(loop, "early_return") == {"return t"}
    assert {"return s[:]", "return s[2:]", "return s[1:-1]"} <= diffs(
        "def f(s):\n    return s[1:]\n", "off_by_one_slice")
    assert {"return len(s)", "return len(s) - 2"} <= diffs("def f(s):\n    return len(s) - 1\n", "off_by_one_len")
    assert {"best = 0", "best = float('inf')"} <= diffs(ACCUMULATE, "accumulator_init")
    assert {"x = 1.0", "x = 0.25", "x = 5.0"} == diffs("def f():\n    x = 0.5\n    return x\n", "constant")
    assert {"return x < y < z", "return x <= y <= z", "return x <= y > z"} <= diffs(
        "def f(x, y, z):\n    return x <= y < z\n", "compare")
    assert "return ' '.join(xs)" in diffs("def f(xs):\n    return ''.join(xs)\n", "constant")
    assert {"return [x for x in xs]"} == diffs("def f(xs):\n    return [x for x in xs if x]\n", "missing_branch")
    # a guard with an else is replaced by its else branch; an elif is dropped alone
    branches = [src for op, src in mutants(MISC, 1000, random.Random(0)) if op == "missing_branch"]
    assert any("elif" not in src and "'negative'" not in src and "'zero'" in src for src in branches)
    assert any("'zero'" not in src and "'negative'" in src for src in branches)


def test_operators_are_balanced():
    for name, (program, first_line, _, _) in PROGRAMS.items():
        for seed in range(5):
            for limit in (10, 20, 40):
                ms = mutants(program, limit, random.Random(seed), first_line)
                counts = Counter(op for op, _ in ms)
                if len(counts) >= 4:
                    assert max(counts.values()) <= 0.4 * len(ms), (name, seed, limit, counts)
                    assert counts["remove_statement"] <= max(1, 0.15 * len(ms))
    # the first mutants come from different operators (round robin)
    first = [op for op, _ in mutants(ACCUMULATE, 8, random.Random(3))]
    assert len(set(first)) == len(first) == 8


def test_mutants_behave_differently():
    killed: Counter = Counter()
    for program, first_line, _, calls in PROGRAMS.values():
        if calls is None:
            continue
        expected = _outcomes(program, calls)
        for op, src in mutants(program, 40, random.Random(0), first_line):
            if _outcomes(src, calls) != expected:
                killed[op] += 1
    assert sum(killed.values()) >= 3
    assert {"off_by_one_range", "accumulator_init", "early_return", "missing_branch", "compare",
            "off_by_one_slice", "return_value"} <= set(killed)


def test_deterministic_for_an_rng_state_and_any_hash_seed():
    for program, first_line, _, _ in PROGRAMS.values():
        assert mutants(program, 25, random.Random(5), first_line) == mutants(program, 25, random.Random(5), first_line)
    assert mutants(SIEVE, 25, random.Random(5)) != mutants(SIEVE, 25, random.Random(6))
    script = ("import json, random, sys\nsys.path.insert(0, '.')\nfrom codekiln.transforms.testgen.mutants import mutants\n"
              "from tests.transforms.test_mutants import PROGRAMS\n"
              "print(json.dumps([mutants(p, 30, random.Random(11), f) for p, f, _, _ in PROGRAMS.values()]))\n")
    outputs = [subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, check=True,
                              env=dict(os.environ, PYTHONHASHSEED=seed)).stdout for seed in ("0", "12345")]
    here = [[list(m) for m in mutants(p, 30, random.Random(11), f)] for p, f, _, _ in PROGRAMS.values()]
    assert json.loads(outputs[0]) == json.loads(outputs[1]) == here
