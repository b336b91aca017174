"""Input contracts: inference from seeds (and docstrings), admits/generate agreement, caps,
determinism (across PYTHONHASHSEED too) and the stored JSON form. No sandbox needed."""

import ast
import gzip
import json
import os
import random
import re
import subprocess
import sys
from pathlib import Path

import pytest
from codekiln.transforms.testgen.contract import (
    MAX_DEPTH,
    MAX_INT,
    MAX_LEN,
    Contract,
    Float,
    Int,
    Record,
    Seq,
    Str,
    Union,
    _key,
    generate,
    infer,
)
from codekiln.transforms.testgen.inputs import seed_inputs

REPO = Path(__file__).resolve().parents[2]


def gen(seeds, n=200, prompt="", seed=0, entry="f"):
    c = infer(seeds, prompt, "", entry)
    return c, generate(c, seeds, n, random.Random(seed))


def depth(v) -> int:
    if isinstance(v, (list, tuple, set, frozenset)):
        return 1 + max((depth(x) for x in v), default=0)
    if isinstance(v, dict):
        return 1 + max((depth(x) for kv in v.items() for x in kv), default=0)
    return 0


def check_outputs(c: Contract, seeds, xs, n=None):
    keys = [_key(x) for x in xs]
    assert len(set(keys)) == len(keys), "duplicates"
    assert not set(keys) & {_key(s) for s in seeds}, "a seed came back"
    for x in xs:
        assert c.admits(x), x
        assert _key(ast.literal_eval(repr(x))) == _key(x), x
        for v in x:
            assert depth(v) <= MAX_DEPTH
            for leaf in _leaves(v):
                if isinstance(leaf, (int, float)) and not isinstance(leaf, bool):
                    assert abs(leaf) <= MAX_INT
                if isinstance(leaf, (str, list, tuple, dict, set, frozenset)):
                    assert len(leaf) <= MAX_LEN
    if n is not None:
        assert len(xs) == n


def _leaves(v):
    yield v
    if isinstance(v, (list, tuple, set, frozenset)):
        for x in v:
            yield from _leaves(x)
    elif isinstance(v, dict):
        for k, x in v.items():
            yield from _leaves(k)
            yield from _leaves(x)


# -- numbers -------------------------------------------------------------------------------------


def test_sign_and_magnitude_of_ints():
    c, xs = gen([(1,), (5,), (12,)])
    assert c.args[0] == Int(1, 20)
    check_outputs(c, [(1,), (5,), (12,)], xs)
    assert min(x[0] for x in xs) == 2 and max(x[0] for x in xs) == 20  # positive (1 is a seed), small stays small
    c, xs = gen([(0,), (3,), (7,)])
    assert c.args[0].lo == 0 and 0 not in [x[0] for x in xs]  # 0 is a seed; non-negative
    assert all(x[0] >= 0 for x in xs)
    c, xs = gen([(-4,), (9,)])
    assert c.args[0].lo < 0 and any(x[0] < 0 for x in xs)
    c, _ = gen([(8, 3), (9, 3), (234, 2)])
    assert c.args[1].lo == 2  # every seed >= 2: 0 and 1 are degenerate (bases, moduli)


def test_values_in_zero_one_keep_exactly_that_range():
    seeds = [([[0, 1, 0], [1, 1, 0]],), ([[1, 1], [0, 0]],)]
    c, xs = gen(seeds)
    check_outputs(c, seeds, xs)
    assert {v for (g,) in xs for row in g for v in row} <= {0, 1}
    assert all(len({len(r) for r in g}) <= 1 for (g,) in xs)  # rows of one length, as in every seed


def test_floats_keep_sign_and_decimals():
    seeds = [([1.5, 2.25],), ([0.5],), ([3.0, 4.0, 1.75],)]
    c, xs = gen(seeds)
    check_outputs(c, seeds, xs)
    values = [v for (xs_,) in xs for v in xs_]
    assert all(v > 0 and isinstance(v, float) and round(v, 3) == v for v in values)  # one decimal finer
    assert any(round(v, 2) != v for v in values) and any(v == int(v) for v in values)


# -- lengths and strings ---------------------------------------------------------------------------


def test_non_empty_unless_a_seed_is_empty_and_boundaries_inside():
    seeds = [([3, 1, 2],), ([5, 5],), ([7],)]
    c, xs = gen(seeds)
    assert all(len(x[0]) >= 1 for x in xs)
    assert any(len(x[0]) == 1 for x in xs) and any(len(set(x[0])) < len(x[0]) for x in xs)  # single, duplicates
    seeds = [([],), ([3, 1, 2],)]
    c, xs = gen(seeds, seed=3)
    check_outputs(c, seeds, xs)
    assert c.args[0].min_len == 0


def test_alphabet_classes_open_or_closed():
    c, xs = gen([("hello",), ("abc",), ("xyz",)])
    assert all(re.fullmatch(r"[a-z]+", x[0]) for x in xs)  # no digits, no upper case, no spaces
    assert len({ch for (s,) in xs for ch in s}) > 9  # the lower-case class is open
    seeds = [("111000", "101010"), ("1", "1"), ("0101", "0000")]
    c, xs = gen(seeds)
    check_outputs(c, seeds, xs)
    assert all(set(a) <= {"0", "1"} and set(b) <= {"0", "1"} for a, b in xs)  # closed: binary
    assert all(len(a) == len(b) for a, b in xs)  # a relation every seed has


def test_format_like_strings_keep_their_format():
    seeds = [("03-11-2000",), ("15-01-2012",), ("04-0-2040",), ("06-04-2020",)]
    c, xs = gen(seeds)
    check_outputs(c, seeds, xs)
    # fixed-width fields keep their width ('03', '2000'), others vary by one more digit than seen
    assert all(re.fullmatch(r"\d\d-\d{1,3}-\d{4}", s) for (s,) in xs)
    assert any(re.fullmatch(r"\d\d-\d-\d{4}", s) for (s,) in xs) and len(xs) == 200
    seeds = [("1/5", "5/1"), ("7/10", "10/2"), ("2/3", "5/2")]
    c, xs = gen(seeds)
    check_outputs(c, seeds, xs)
    assert all(re.fullmatch(r"[1-9]\d{0,2}/[1-9]\d{0,2}", s) for x in xs for s in x)  # no zero, no 0-prefix
    seeds = [("10",), ("14.5",), ("-15.5",), ("15.3",), ("0",)]
    c, xs = gen(seeds)
    assert all(re.fullmatch(r"(0|[1-9]\d*)|-?(0|[1-9]\d*)\.\d+", s) for (s,) in xs)
    float(xs[0][0])
    seeds = [("5 apples and 6 oranges", 19), ("0 apples and 1 oranges", 3), ("100 apples and 1 oranges", 120)]
    c, xs = gen(seeds)
    assert all(re.fullmatch(r"\d+ apples and \d+ oranges", s) for s, _ in xs)


def test_text_whitespace_variations_but_no_edge_spaces():
    seeds = [("Hello world",), ("Is the sky blue?",), ("I love It !",)]
    c, xs = gen(seeds)
    check_outputs(c, seeds, xs)
    texts = [s for (s,) in xs]
    assert any("  " in s for s in texts)  # a double space: a whitespace variation
    assert all(s == s.strip(" ") for s in texts)
    assert not any("   " in s for s in texts)
    assert all(set(s) <= set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ ?!") for s in texts)
    # a list of symbols written with single spaces stays that way
    c, xs = gen([("a b b a",), ("a b c a b",), ("r t g",)])
    assert all(re.fullmatch(r"[a-z]( [a-z])*", s) for (s,) in xs)


def test_balanced_brackets_when_every_seed_is():
    c, xs = gen([("(()()) ((())) ()",), ("() (()) ((()))",), ("(()(()))",)])
    assert c.args[0].balanced and all(_balanced(s) for (s,) in xs)
    c, _ = gen([("(()",), ("())",)])
    assert not c.args[0].balanced


def _balanced(s):
    depth_ = 0
    for ch in s:
        depth_ += {"(": 1, ")": -1}.get(ch, 0)
        if depth_ < 0:
            return False
    return depth_ == 0


def test_element_properties_and_relations():
    seeds = [([1, 3, 5, 9],), ([2, 4, 10],), ([-3, 0, 7, 8, 20],)]
    c, xs = gen(seeds)
    check_outputs(c, seeds, xs)
    assert c.args[0].order == "asc" and c.args[0].distinct
    assert all(list(x[0]) == sorted(set(x[0])) for x in xs)
    seeds = [([1, -2, 41, 57], 3), ([111, 121, 3, 4000, 5, 6], 2), ([11, 21, 3], 3)]
    c, xs = gen(seeds)
    assert any(r.text(c.names) == "arg1 <= len(arg0)" for r in c.relations)
    assert all(k <= len(arr) for arr, k in xs)
    seeds = [(3, 10), (1, 2), (17, 89)]
    c, xs = gen(seeds)
    assert all(a < b for a, b in xs)
    seeds = [((1, 2), (2, 3)), ((-1, 1), (0, 4)), ((-2, -2), (-3, -2))]
    c, xs = gen(seeds)
    assert isinstance(c.args[0], Record)
    assert all(a[0] <= a[1] and b[0] <= b[1] for a, b in xs)
    seeds = [([0, 3, 2, 1, 4],), ([8191],), ([0, 81, 12, 3, 1, 21],)]
    c, xs = gen(seeds, prompt='def f(lst):\n    """The largest prime value in lst."""\n')
    assert c.args[0].props == ("some prime",)  # only when the problem speaks of primes
    assert all(any(v > 1 and all(v % d for d in range(2, v)) for v in x) for (x,) in xs)
    assert gen(seeds)[0].args[0].props == ()
    seeds = [([[1, 2], [3, 4]], 1), ([[5, 9, 3], [4, 1, 6], [7, 8, 2]], 2), ([[1, 3], [3, 2]], 3)]
    c, xs = gen(seeds)
    assert "min 1" in c.args[0].props and c.args[0].square  # a grid holding 1, N x N
    assert all(min(v for row in g for v in row) == 1 and all(len(r) == len(g) for r in g) for g, _ in xs)
    seeds = [([3, 4, 5, 1, 2],), ([2, 1, 3],), ([1, 2, 3, 4],)]
    c, xs = gen(seeds)
    assert c.args[0].perm == 1 and all(sorted(x) == list(range(1, len(x) + 1)) for (x,) in xs)
    c, xs = gen([(["**", "*", "+"], [2, 3, 4, 5]), (["+", "-"], [7, 3, 4])])
    assert c.args[0].elem.vocab == ("*", "**", "+", "-")  # operator tokens: only those seen
    assert all(set(ops) <= {"*", "**", "+", "-"} and len(ops) == len(nums) - 1 for ops, nums in xs)


def test_docstring_phrases_tighten_only_where_seeds_fit():
    prompt = ('def f(numbers, k):\n    """Given a list of numbers (of at least two elements) and 1 <= k <= 4.\n'
              '    The list is non-empty."""\n')
    seeds = [([1.0, 2.0, 3.0], 1), ([4.0, 1.5, 2.0, 7.0], 3)]
    c, xs = gen(seeds, prompt=prompt)
    check_outputs(c, seeds, xs)
    assert c.args[0].min_len == 2 and c.args[1] == Int(1, 4)
    assert any("at least two" in note for note in c.notes) and any("1 <= k <= 4" in note for note in c.notes)
    assert all(len(a) >= 2 and 1 <= k <= 4 for a, k in xs)
    # a phrase a seed contradicts is ignored
    c, _ = gen([([],), ([1, 2],)], prompt='def f(xs):\n    """A non-empty list."""\n')
    assert c.args[0].min_len == 0 and not c.notes
    # positive numbers where the seeds left the sign open (elements of an annotated empty list)
    c, xs = gen([([],)], prompt='def f(xs: list[int]):\n    """A list of positive integers."""\n')
    assert isinstance(c.args[0], Seq) and c.args[0].elem.lo >= 1
    assert any(x[0] for x in xs) and all(v >= 1 for (x,) in xs for v in x)
    # the text of a non-code prompt (MBPP) is read too
    c, _ = gen([("ab",), ("A",)], prompt="Write a function; x >= 5.", entry="g")
    assert isinstance(c.args[0], Str)


def test_mixed_type_seeds_make_a_union():
    seeds = [(2, 3, 1), (2.5, 2, 3), (1.5, 5, 3.5), ([4, {}, [], 23.2, 9, "adasd"], None, True)]
    c, xs = gen(seeds)
    check_outputs(c, seeds, xs)
    assert isinstance(c.args[0], Union) and isinstance(c.args[2], Union)
    kinds = {type(x[0]).__name__ for x in xs}
    assert {"int", "float", "list"} <= kinds
    lists = [v for x in xs for v in x if isinstance(v, list)]
    assert {type(e).__name__ for v in lists for e in v} >= {"int", "str"}


def test_no_seeds_no_inputs_and_other_edges():
    c = infer([], 'def f(s: str):\n    """x"""\n', "", "f")
    assert c.arities == () and not c.admits(("a",))
    assert generate(c, [], 10, random.Random(0)) == []
    c, xs = gen([(1, "a"), (2, "bb")], n=0)
    assert xs == []
    seeds = [(1,), (2, "x"), (3, "yy", 2.5)]  # optional arguments: each arity seen
    c, xs = gen(seeds)
    check_outputs(c, seeds, xs)
    assert {len(x) for x in xs} == {1, 2, 3}
    c, xs = gen([("a",), ("b",)], n=20)
    assert all(len(s) == 1 for (s,) in xs)  # characters stay characters
    c = infer([(1, 2), (3, 4)], "", "", "f")
    exclude = [repr(x) for x in generate(c, [(1, 2), (3, 4)], 30, random.Random(5))]
    again = generate(c, [(1, 2), (3, 4)], 30, random.Random(5), exclude=exclude)
    assert not {repr(x) for x in again} & set(exclude)


def test_caps_hold_even_when_seeds_exceed_them():
    seeds = [([-9999999999999999, 5] + list(range(40)),), ("x" * 50,)]
    c, xs = gen([seeds[0]])
    check_outputs(c, [seeds[0]], xs)
    assert c.admits(seeds[0])  # the seed itself stays admitted
    c, xs = gen([seeds[1], ("y" * 45,)])
    check_outputs(c, [seeds[1]], xs)
    deep = [([[[1, 2], [3]], [[4]]],), ([[[5]]],)]
    c, xs = gen(deep)
    check_outputs(c, deep, xs)


def test_humaneval_contracts_admit_seeds_generate_admitted_and_round_trip():
    with gzip.open(REPO / "configs" / "corpora" / "humaneval.jsonl.gz", "rt") as f:
        problems = [json.loads(line) for line in f]
    total = 0
    for p in problems:
        ep = p["entry_point"]
        seeds = seed_inputs([p["test"] + f"\n\ncheck({ep})\n"], ep)
        c = infer(seeds, p["prompt"], p["canonical_solution"], ep)
        assert all(c.admits(s) for s in seeds), p["task_id"]
        hash(c)
        text = c.to_json()
        assert Contract.from_json(text) == c, p["task_id"]
        assert json.loads(text) == json.loads(Contract.from_json(text).to_json())
        xs = generate(c, seeds, 25, random.Random(p["task_id"]))
        check_outputs(c, seeds, xs)
        assert xs == generate(c, seeds, 25, random.Random(p["task_id"]))
        total += len(xs)
    assert total > 164 * 25 * 0.8


def test_json_is_readable_and_deterministic():
    seeds = [("03-11-2000",), ("15-01-2012",)]
    c = infer(seeds, "", "", "f")
    text = c.to_json()
    assert text == infer(list(seeds), "", "", "f").to_json()
    obj = json.loads(text)
    assert obj["args"][0]["type"] == "str" and obj["args"][0]["formats"] == [r"[0-9]{2,2}\-[0-9]{2,2}\-[0-9]{1,5}"]
    c = infer([([1, 2], 1), ([3, 4, 5], 2)], 'def f(arr, k):\n    """x"""\n', "", "f")
    assert [r["text"] for r in json.loads(c.to_json())["relations"]] == ["k < len(arr)"]
    assert Float(0.0, 1.0, 1, True).to_obj()["positive"] is True


SCRIPT = r"""
import random, sys
sys.path.insert(0, sys.argv[1])
from codekiln.transforms.testgen.contract import infer, generate, _key
cases = [
    [({'a', 'bc', 'd'}, 'x'), ({'q'}, 'yy')],
    [({'k': 'v', 'w': 'zz'},), ({'a': 'b'},)],
    [(['xxx', 'asd', 'john doe'], 'xx'), ([], 'john')],
    [('Hello world',), ('I love It !',)],
    [(frozenset({'a', 'b'}), 3), (frozenset({'c'}), 4)],
]
for seeds in cases:
    c = infer(seeds, '', '', 'f')
    print(c.to_json())
    print([_key(x) for x in generate(c, seeds, 40, random.Random(11))])
"""


def test_deterministic_across_hash_seeds():
    outs = []
    for hs in ("0", "4242"):
        env = dict(os.environ, PYTHONHASHSEED=hs)
        outs.append(subprocess.run([sys.executable, "-c", SCRIPT, str(REPO)], env=env, capture_output=True,
                                   text=True, check=True, timeout=120).stdout)
    assert outs[0] == outs[1] and outs[0].count("\n") == 10


@pytest.mark.parametrize("seeds", [[("abc", 2), ("de", 1)], [([1.5, -2.0],), ([3.25],)], [({"a": [1]},), ({},)]])
def test_admits_agrees_with_generate(seeds):
    c, xs = gen(seeds, n=100, seed=9)
    check_outputs(c, seeds, xs)
    assert all(c.admits(s) for s in seeds)
    assert not c.admits(("abc",) * 5) and not c.admits([1])


def _random_value(r: random.Random, d: int = 0):
    k = r.randrange(11 if d < 2 else 6)
    if k == 0:
        return r.randint(-20, 20)
    if k == 1:
        return r.choice([r.randint(-10**7, 10**7), 0, 10**20])
    if k == 2:
        return round(r.uniform(-50, 50), r.randint(0, 4))
    if k == 3:
        return "".join(r.choice("abcXYZ 019-/.,!()") for _ in range(r.randint(0, 12)))
    if k == 4:
        return r.choice([True, False, None])
    if k == 5:
        return r.choice(["", "a", "12", "3/4", "(()) ()"])
    if k == 6:
        return [_random_value(r, d + 1) for _ in range(r.randint(0, 4))]
    if k == 7:
        return tuple(_random_value(r, d + 1) for _ in range(r.randint(0, 4)))
    if k == 8:
        return {r.choice(["a", "b", 1, (1, 2)]): _random_value(r, d + 1) for _ in range(r.randint(0, 3))}
    if k == 9:
        return {r.choice([1, 2, "x", "y"]) for _ in range(r.randint(0, 3))}
    return [[r.randint(0, 9) for _ in range(3)] for _ in range(r.randint(1, 3))]


def test_random_seed_sets_keep_every_invariant():
    r = random.Random(2024)
    for it in range(120):
        template = [_random_value(r) for _ in range(r.randint(1, 3))]
        seeds = [tuple(v if r.random() < 0.6 else _random_value(r) for v in template) for _ in range(r.randint(1, 4))]
        c = infer(seeds, "", "", "f")
        assert all(c.admits(s) for s in seeds), seeds
        assert Contract.from_json(c.to_json()) == c, seeds
        xs = generate(c, seeds, 30, random.Random(it))
        check_outputs(c, seeds, xs)
        assert xs == generate(c, seeds, 30, random.Random(it))
