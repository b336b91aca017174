"""Test inputs: seeds parsed from a problem's existing tests, then grown by type-aware mutation
(EvalPlus-style). Inputs are argument tuples of Python literals; nothing is ever `eval`ed."""

from __future__ import annotations

import ast
import random
import warnings

MAX_INT = 10**6
MAX_LEN = 24


def literal(node: ast.expr):
    """The value of a literal expression (ValueError otherwise)."""
    return ast.literal_eval(node)


def seed_inputs(tests: list[str], entry_point: str) -> list[tuple]:
    """Argument tuples of calls of the entry point (or `candidate`) inside the tests' asserts,
    in order of appearance, without duplicates. Calls with non-literal arguments are skipped."""
    names = {entry_point, "candidate"}
    found: dict[str, tuple] = {}
    for src in tests:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                tree = ast.parse(src)
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if not isinstance(node, ast.Assert):
                continue
            for call in ast.walk(node.test):
                if (isinstance(call, ast.Call) and isinstance(call.func, ast.Name)
                        and call.func.id in names and not call.keywords):
                    try:
                        args = tuple(literal(a) for a in call.args)
                    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
                        continue
                    found.setdefault(repr(args), args)
    return list(found.values())


def parse_llm_inputs(text: str) -> list[tuple]:
    """A model's proposed inputs: a Python literal list of argument tuples (or lists)."""
    try:
        value = ast.literal_eval(text.strip())
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return []
    if not isinstance(value, (list, tuple)):
        return []
    return [tuple(v) if isinstance(v, (list, tuple)) else (v,) for v in value]


# -- type-aware mutation --------------------------------------------------------------------


def _mutate_str(s: str, rng: random.Random) -> str:
    alphabet = sorted(set(s)) or list("abc")
    op = rng.randrange(6)
    if op == 0 and s:
        i = rng.randrange(len(s))
        return s[:i] + s[i + 1:]
    if op == 1 and len(s) < MAX_LEN:
        i = rng.randrange(len(s) + 1)
        return s[:i] + rng.choice(alphabet + [" ", "a", "Z", "0"]) + s[i:]
    if op == 2 and s:
        i = rng.randrange(len(s))
        return s[:i] + rng.choice(alphabet) + s[i + 1:]
    if op == 3:
        return s.swapcase()
    if op == 4:
        return s[::-1]
    return "" if rng.random() < 0.3 else (s + s)[:MAX_LEN]


def _mutate_seq(xs: list, rng: random.Random) -> list:
    xs = list(xs)
    op = rng.randrange(5)
    if op == 0 and xs and len(xs) < MAX_LEN:  # a new element like an existing one
        xs.insert(rng.randrange(len(xs) + 1), mutate_value(rng.choice(xs), rng))
    elif op == 1 and xs:
        del xs[rng.randrange(len(xs))]
    elif op == 2 and xs:
        i = rng.randrange(len(xs))
        xs[i] = mutate_value(xs[i], rng)
    elif op == 3:
        rng.shuffle(xs)
    elif xs:
        xs.reverse()
    return xs


def mutate_value(v, rng: random.Random):
    """A nearby value of the same type (recursively for containers)."""
    if isinstance(v, bool):
        return not v
    if isinstance(v, int):
        w = rng.choice([v + 1, v - 1, -v, v * 2, 0, rng.randint(-10, 10), v + rng.randint(-100, 100)])
        return max(-MAX_INT, min(MAX_INT, w))
    if isinstance(v, float):
        return round(rng.choice([v + 0.5, v - 0.5, v * 1.5, -v, 0.0, v + rng.uniform(-10, 10)]), 6)
    if isinstance(v, str):
        return _mutate_str(v, rng)
    if isinstance(v, list):
        return _mutate_seq(v, rng)
    if isinstance(v, tuple):
        return tuple(_mutate_seq(list(v), rng))
    if isinstance(v, dict):
        d = dict(v)
        if d and rng.random() < 0.5:
            k = rng.choice(list(d))
            d[k] = mutate_value(d[k], rng)
        elif d and rng.random() < 0.5:
            del d[rng.choice(list(d))]
        elif d:
            k = mutate_value(rng.choice(list(d)), rng)
            d[k] = mutate_value(rng.choice(list(d.values())), rng)
        return d
    if isinstance(v, (set, frozenset)):
        items = list(v)
        if items and rng.random() < 0.5:
            items.remove(rng.choice(items))
        elif items:
            items.append(mutate_value(rng.choice(items), rng))
        return type(v)(items)
    return v


def grow_inputs(seeds: list[tuple], size: int, rng: random.Random) -> list[tuple]:
    """Seeds first, then mutants of random pool members (one or two arguments changed) until the
    pool has `size` distinct inputs or mutation stops finding new ones."""
    pool = {repr(s): s for s in seeds}
    if not seeds:
        return []
    tries = 0
    while len(pool) < size and tries < size * 20:
        tries += 1
        base = list(rng.choice(list(pool.values())))
        if not base:
            break
        for _ in range(rng.choice([1, 1, 2])):
            i = rng.randrange(len(base))
            base[i] = mutate_value(base[i], rng)
        candidate = tuple(base)
        try:
            key = repr(candidate)
            if ast.literal_eval(key) != candidate:
                continue
        except (ValueError, SyntaxError, RecursionError, MemoryError):
            continue
        pool.setdefault(key, candidate)
    return list(pool.values())


def call_source(entry_point: str, args: tuple) -> str:
    return f"{entry_point}({', '.join(repr(a) for a in args)})"
