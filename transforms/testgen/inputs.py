"""Seed inputs parsed from a problem's existing tests (and a model's proposals), and the call
source of an input. Inputs are argument tuples of Python literals; nothing is ever `eval`ed.
New inputs are grown inside the problem's inferred contract (`contract.py`)."""

from __future__ import annotations

import ast
import warnings

from codekiln.transforms import pyast

_FOLD = {ast.Add: lambda a, b: a + b, ast.Sub: lambda a, b: a - b, ast.Mult: lambda a, b: a * b,
         ast.FloorDiv: lambda a, b: a // b, ast.Mod: lambda a, b: a % b, ast.Div: lambda a, b: a / b}


def literal(node: ast.expr):
    """The value of a literal expression, constant arithmetic on numbers folded (`3 * 19 * 19`,
    `2 ** 10`, `-(5 - 7)`), bounded so no test can make us build a huge number; ValueError
    otherwise."""
    try:
        return pyast.literal_eval(node)
    except ValueError:
        pass
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        v = _number(literal(node.operand))
        return -v if isinstance(node.op, ast.USub) else v
    if isinstance(node, ast.BinOp):
        a, b = _number(literal(node.left)), _number(literal(node.right))
        if isinstance(node.op, ast.Pow):
            if abs(b) > 64 or abs(a) > 10**6:
                raise ValueError("too large")
            return _number(a ** b)
        if type(node.op) in _FOLD:
            try:
                return _number(_FOLD[type(node.op)](a, b))
            except ZeroDivisionError:
                raise ValueError("division by zero") from None
    raise ValueError("not a literal")


def _number(v):
    if isinstance(v, bool) or not isinstance(v, (int, float)) or abs(v) > 10**18:
        raise ValueError("not a (bounded) number")
    return v


def seed_inputs(tests: list[str], entry_point: str) -> list[tuple]:
    """Argument tuples of calls of the entry point (or `candidate`) inside the tests' asserts,
    in order of appearance, without duplicates. Calls with non-literal arguments are skipped."""
    names = {entry_point, "candidate"}
    found: dict[str, tuple] = {}
    for src in tests:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                tree = pyast.parse(src)
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
        value = pyast.literal_eval(text.strip())
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return []
    if not isinstance(value, (list, tuple)):
        return []
    return [tuple(v) if isinstance(v, (list, tuple)) else (v,) for v in value]


def call_source(entry_point: str, args: tuple) -> str:
    return f"{entry_point}({', '.join(repr(a) for a in args)})"
