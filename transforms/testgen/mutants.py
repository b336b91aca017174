"""Mutants of a reference solution for mutation analysis: one small fault per mutant.

Operators: comparison, arithmetic and boolean operator swaps; constant and off-by-one changes;
removed statements (replaced by `pass`); swapped call arguments. Mutants whose code is the same as
the reference's are dropped here; behaviourally identical ones are found by running them.
"""

from __future__ import annotations

import ast
import copy
import random
import warnings

COMPARE_SWAPS = {ast.Lt: [ast.LtE, ast.Gt], ast.LtE: [ast.Lt, ast.GtE], ast.Gt: [ast.GtE, ast.Lt],
                 ast.GtE: [ast.Gt, ast.LtE], ast.Eq: [ast.NotEq], ast.NotEq: [ast.Eq],
                 ast.In: [ast.NotIn], ast.NotIn: [ast.In], ast.Is: [ast.IsNot], ast.IsNot: [ast.Is]}
BINOP_SWAPS = {ast.Add: [ast.Sub], ast.Sub: [ast.Add], ast.Mult: [ast.Div, ast.Add],
               ast.Div: [ast.Mult, ast.FloorDiv], ast.FloorDiv: [ast.Div, ast.Mult], ast.Mod: [ast.FloorDiv],
               ast.Pow: [ast.Mult]}
BOOL_SWAPS = {ast.And: ast.Or, ast.Or: ast.And}


def _sites(tree: ast.Module) -> list[tuple[str, int, object]]:
    """Every (operator, node index, variant) that makes one mutant, in a stable order."""
    nodes = list(ast.walk(tree))
    docstrings = {id(b[0].value) for n in nodes if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef,
                                                                      ast.ClassDef, ast.Module))
                  for b in [n.body] if b and isinstance(b[0], ast.Expr) and isinstance(b[0].value, ast.Constant)}
    sites = []
    for i, n in enumerate(nodes):
        if isinstance(n, ast.Compare) and len(n.ops) == 1:
            sites += [("compare", i, op) for op in COMPARE_SWAPS.get(type(n.ops[0]), [])]
        elif isinstance(n, ast.BinOp):
            sites += [("arith", i, op) for op in BINOP_SWAPS.get(type(n.op), [])]
        elif isinstance(n, ast.AugAssign):
            sites += [("arith", i, op) for op in BINOP_SWAPS.get(type(n.op), [])]
        elif isinstance(n, ast.BoolOp):
            sites.append(("boolean", i, BOOL_SWAPS[type(n.op)]))
        elif isinstance(n, ast.UnaryOp) and isinstance(n.op, ast.Not):
            sites.append(("negation", i, None))
        elif isinstance(n, ast.Constant) and id(n) not in docstrings:
            if isinstance(n.value, bool):
                sites.append(("constant", i, not n.value))
            elif isinstance(n.value, int):
                sites += [("off_by_one", i, n.value + 1), ("off_by_one", i, n.value - 1)]
            elif isinstance(n.value, float):
                sites.append(("constant", i, n.value + 1.0))
            elif isinstance(n.value, str) and n.value:
                sites.append(("constant", i, ""))
        elif isinstance(n, ast.Call) and len(n.args) >= 2 and not any(isinstance(a, ast.Starred) for a in n.args):
            sites.append(("swap_args", i, None))
        if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.For, ast.While, ast.If, ast.With, ast.Try)):
            for j, stmt in enumerate(n.body):
                if not (isinstance(stmt, ast.Expr) and id(stmt.value) in docstrings):
                    sites.append(("remove_statement", i, j))
    return sites


def _apply(tree: ast.Module, site: tuple[str, int, object]) -> ast.Module:
    tree = copy.deepcopy(tree)
    kind, index, variant = site
    node = list(ast.walk(tree))[index]
    if kind == "compare":
        node.ops = [variant()]
    elif kind == "arith":
        node.op = variant()
    elif kind == "boolean":
        node.op = variant()
    elif kind == "negation":
        return _replace(tree, node, node.operand)
    elif kind in ("constant", "off_by_one"):
        node.value = variant
    elif kind == "swap_args":
        node.args[0], node.args[1] = node.args[1], node.args[0]
    elif kind == "remove_statement":
        node.body[variant] = ast.Pass()
    return tree


def _replace(tree: ast.Module, old: ast.AST, new: ast.AST) -> ast.Module:
    for parent in ast.walk(tree):
        for name, value in ast.iter_fields(parent):
            if value is old:
                setattr(parent, name, new)
                return tree
            if isinstance(value, list):
                for k, item in enumerate(value):
                    if item is old:
                        value[k] = new
                        return tree
    return tree


def mutants(program: str, limit: int, rng: random.Random) -> list[tuple[str, str]]:
    """Up to `limit` distinct mutants [(operator, source)], none textually equal to the program."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tree = ast.parse(program)
    original = ast.unparse(tree)
    sites = _sites(tree)
    rng.shuffle(sites)
    out, seen = [], {original}
    for site in sites:
        if len(out) >= limit:
            break
        try:
            mutated = ast.fix_missing_locations(_apply(tree, site))
            src = ast.unparse(mutated)
            compile(src, "<mutant>", "exec")
        except (SyntaxError, ValueError, TypeError, AttributeError, IndexError):
            continue
        if src not in seen:
            seen.add(src)
            out.append((site[0], src))
    return out
