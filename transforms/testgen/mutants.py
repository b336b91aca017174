"""Mutants of a reference solution: one small fault per mutant, shaped like the errors code models make.

Mutants serve mutation analysis of test suites (a suite is as good as the faults it catches) and
offline "rejected" candidates in preference pairs, so each operator copies a mistake models make:

- off_by_one_range: a `range` start or stop ±1 (step kept), the commonest loop-bound bug.
- off_by_one_slice: a slice bound ±1, added (`x[1:]`, `x[:-1]`) or dropped (`x[1:]` -> `x[:]`);
  an index `x[i]` -> `x[i - 1]` / `x[i + 1]`: fence-post errors in string and list code.
- off_by_one_len: `len(x)` -> `len(x) ± 1`, folded (`len(x) - 1` -> `len(x)`): the last element.
- compare: one operator of a (chained) comparison wrong: `<`/`<=`, `<`/`>`, `==`/`!=`, `in`/`not in`.
- arith: an arithmetic or augmented-assignment operator swapped (`+`/`-`, `//`/`/`, `%`/`//` ...).
- swap_operands: the operands of a non-commutative operator swapped (`a - b` -> `b - a`, no constants).
- boolean: `and` <-> `or`; drop_not: a forgotten `not`.
- constant: ints ±1 or 0, bools flipped, strings emptied or one character changed, floats scaled
  (x2, /2, x10): a misremembered threshold or literal, never a meaningless `3.14 -> 4.14`.
- missing_branch: a forgotten case: a guard `if` (its body ends in return/raise/break/continue)
  deleted, an `else` or `elif` dropped, a guard with an `else` replaced by its else branch.
- accumulator_init: the wrong start value of a name a later loop updates (0 <-> 1, +-inf -> 0,
  "" -> " ", [] -> [0], True <-> False): max/min/product initialisation bugs.
- swap_args / omit_arg: positional arguments swapped; an argument left out (`range(1, n)` ->
  `range(n)`, `round(x, 2)` -> `round(x)`, `key=` dropped).
- early_return: a loop returns after its first iteration (the function's later `return X` put at
  the end of the loop body); break_continue: `break` <-> `continue`.
- return_value: `return True` <-> `return False`, a boolean-looking `return e` -> `return not e`.
- remove_statement: a statement replaced by `pass`; sampled in one round of four only, since
  models seldom just leave a line out.

Only nodes on or after `first_line` change (the prompt's signature and helpers stay intact), and
docstrings never do. Sampling is balanced: round robin over the operators in an rng-shuffled order,
sites shuffled within each. An operator left alone once the others run out of sites would fill the
rest (small programs have many constants and statements), so with four or more operators present
one holding more than its share (`SHARES`, else `MAX_SHARE`) loses its last mutants. Deterministic
for an rng state: no set order, no time.
Mutants whose code equals the reference's are dropped; behaviourally equal ones are found by
running them.
"""

from __future__ import annotations

import ast
import copy
import random
import warnings
from collections import Counter
from collections.abc import Callable

from codekiln.transforms import pyast

COMPARE_SWAPS = {ast.Lt: [ast.LtE, ast.Gt], ast.LtE: [ast.Lt, ast.GtE], ast.Gt: [ast.GtE, ast.Lt],
                 ast.GtE: [ast.Gt, ast.LtE], ast.Eq: [ast.NotEq], ast.NotEq: [ast.Eq],
                 ast.In: [ast.NotIn], ast.NotIn: [ast.In], ast.Is: [ast.IsNot], ast.IsNot: [ast.Is]}
BINOP_SWAPS = {ast.Add: [ast.Sub], ast.Sub: [ast.Add], ast.Mult: [ast.Add, ast.Div],
               ast.Div: [ast.FloorDiv, ast.Mult], ast.FloorDiv: [ast.Div, ast.Mod], ast.Mod: [ast.FloorDiv],
               ast.Pow: [ast.Mult], ast.BitAnd: [ast.BitOr], ast.BitOr: [ast.BitAnd],
               ast.BitXor: [ast.BitOr], ast.LShift: [ast.RShift], ast.RShift: [ast.LShift]}
NON_COMMUTATIVE = (ast.Sub, ast.Div, ast.FloorDiv, ast.Mod, ast.Pow, ast.LShift, ast.RShift)
INIT_SWAPS = {"0": ["1"], "1": ["0"], "-1": ["0"], "0.0": ["1.0"], "1.0": ["0.0"], "''": ["' '"],
              "True": ["False"], "False": ["True"], "None": ["0"], "[]": ["[0]"],
              "float('inf')": ["0", "float('-inf')"], "float('-inf')": ["0", "float('inf')"],
              "math.inf": ["0"], "-math.inf": ["0"], "sys.maxsize": ["0"], "-sys.maxsize": ["0"]}
JUMPS = (ast.Return, ast.Raise, ast.Break, ast.Continue)
NOT_REMOVED = (ast.Pass, ast.Import, ast.ImportFrom, ast.Global, ast.Nonlocal, ast.FunctionDef,
               ast.AsyncFunctionDef, ast.ClassDef)
RARE = {"remove_statement": 4}  # operator -> takes part in one round of this many
MAX_SHARE, SHARES = 0.4, {"remove_statement": 0.15, "constant": 0.3}  # most of the result one operator may hold

Edit = Callable[[list[ast.AST]], "tuple[ast.AST, ast.AST] | None"]  # on the copy's ast.walk list


def _int(n: ast.AST | None) -> bool:
    return isinstance(n, ast.Constant) and type(n.value) is int


def _bump(e: ast.expr, d: int) -> ast.expr:
    """`e + d`, folded into an int constant or an existing `± k`."""
    if _int(e):
        return ast.Constant(e.value + d)
    if isinstance(e, ast.UnaryOp) and isinstance(e.op, ast.USub) and _int(e.operand):
        return ast.Constant(d - e.operand.value)
    if isinstance(e, ast.BinOp) and isinstance(e.op, (ast.Add, ast.Sub)) and _int(e.right):
        k = (e.right.value if isinstance(e.op, ast.Add) else -e.right.value) + d
        return e.left if k == 0 else ast.BinOp(e.left, ast.Add() if k > 0 else ast.Sub(), ast.Constant(abs(k)))
    return ast.BinOp(e, ast.Add() if d > 0 else ast.Sub(), ast.Constant(abs(d)))


def _texty(*operands: ast.expr) -> bool:
    """A string, f-string or display operand: `%` formats, `+`/`*` concatenate or repeat."""
    return any(isinstance(o, (ast.JoinedStr, ast.List, ast.Tuple, ast.ListComp))
               or isinstance(o, ast.Constant) and isinstance(o.value, (str, bytes)) for o in operands)


def _boolish(e: ast.expr) -> bool:
    if isinstance(e, (ast.Compare, ast.BoolOp)):
        return True
    f = e.func if isinstance(e, ast.Call) else None
    return (isinstance(f, ast.Name) and f.id in ("all", "any", "isinstance", "callable", "bool")
            or isinstance(f, ast.Attribute) and (f.attr.startswith("is") or f.attr in ("startswith", "endswith")))


def _const_variants(v: object) -> list[object]:
    if isinstance(v, bool):
        out = [not v]
    elif isinstance(v, int):
        out = [v + 1, v - 1, 0]
    elif isinstance(v, float):
        out = [v * 2, v / 2, v * 10] if v else [1.0]
    elif v == "":
        out = [" "]
    elif isinstance(v, str):
        last = v[-1]
        if last.isdigit():
            last = str((int(last) + 1) % 10)
        elif last.isalpha() and last.isascii():
            base = ord("a") if last.islower() else ord("A")
            last = chr(base + (ord(last) - base + 1) % 26)
        else:
            last = {" ": "_", ",": ".", ".": ",", "(": ")", ")": "(", "[": "]", "]": "["}.get(last, "x")
        out = ["", v[:-1] + last]
    else:
        return []
    return [x for x in dict.fromkeys(out) if x != v or type(x) is not type(v)]


def _updates(loop: ast.stmt, name: str) -> bool:
    """Whether `loop` assigns `name`, or calls a method of it / stores into it."""
    return any(isinstance(x, ast.Name) and x.id == name and isinstance(x.ctx, ast.Store)
               or isinstance(x, (ast.Attribute, ast.Subscript)) and isinstance(x.value, ast.Name)
               and x.value.id == name and (isinstance(x, ast.Attribute) or isinstance(x.ctx, ast.Store))
               for x in ast.walk(loop))


# -- edits on the copy: node i of its ast.walk list -----------------------------------------------

def _sub(i: int, make: Callable[[ast.AST], ast.AST]) -> Edit:
    return lambda nodes: (nodes[i], make(nodes[i]))


def _expr(src: str) -> Callable[[ast.AST], ast.AST]:
    return lambda _: pyast.parse(src, mode="eval").body


def _set(i: int, field: str, make: Callable[[ast.AST], object]) -> Edit:
    def edit(nodes):
        setattr(nodes[i], field, make(nodes[i]))
    return edit


def _splice(i: int, field: str, pos: int, make: Callable[[ast.stmt], list[ast.stmt]]) -> Edit:
    def edit(nodes):
        stmts = getattr(nodes[i], field)
        stmts[pos:pos + 1] = make(stmts[pos])
        if not stmts and field == "body":
            stmts.append(ast.Pass())
    return edit


def _swap(i: int, field: str, a: int | str, b: int | str) -> Edit:
    def edit(nodes):
        n = nodes[i]
        if field:
            xs = getattr(n, field)
            xs[a], xs[b] = xs[b], xs[a]
        else:
            x, y = getattr(n, a), getattr(n, b)
            setattr(n, a, y)
            setattr(n, b, x)
    return edit


def _drop(i: int, field: str, k: int) -> Edit:
    def edit(nodes):
        del getattr(nodes[i], field)[k]
    return edit


def _slice_bound(i: int, field: str, d: int) -> Edit:
    def edit(nodes):
        s = nodes[i].slice
        bound = getattr(s, field)
        if bound is None:
            new = ast.Constant(d)
        else:
            negative = ast.unparse(bound).startswith("-")
            new = _bump(bound, d)
            if _int(new) and new.value == 0 and (field == "lower" or negative):
                new = None
        setattr(s, field, new)
    return edit


# -- sites --------------------------------------------------------------------------------------

def _sites(tree: ast.Module, first_line: int) -> list[tuple[str, Edit]]:
    """Every (operator, edit) that makes one mutant, in ast.walk order."""
    nodes = list(ast.walk(tree))
    index = {id(n): i for i, n in enumerate(nodes)}
    parent = {id(c): p for p in nodes for c in ast.iter_child_nodes(p)}
    skip: set[int] = set()  # docstrings, annotations, f-string pieces
    for n in nodes:
        if isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant) and isinstance(n.value.value, str):
            skip |= {id(n), id(n.value)}
        for ann in (getattr(n, "annotation", None), getattr(n, "returns", None)):
            if isinstance(ann, ast.AST):
                skip |= {id(x) for x in ast.walk(ann)}
        if isinstance(n, ast.JoinedStr):
            skip |= {id(x) for x in ast.walk(n) if isinstance(x, ast.Constant)}
        if isinstance(n, ast.FormattedValue) and n.format_spec:
            skip |= {id(x) for x in ast.walk(n.format_spec)}

    def line(n: ast.AST | None) -> int:
        while n is not None and not hasattr(n, "lineno"):
            n = parent.get(id(n))
        return first_line if n is None else n.lineno

    def function_of(n: ast.AST | None) -> ast.FunctionDef | None:
        while n is not None and not isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef,
                                                   ast.Lambda, ast.Module)):
            n = parent.get(id(n))
        return n if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) else None

    sites: list[tuple[str, Edit]] = []
    add = lambda op, edit: sites.append((op, edit))  # noqa: E731
    for i, n in enumerate(nodes):
        for field in ("body", "orelse", "finalbody"):
            stmts = getattr(n, field, None)
            if isinstance(stmts, list):
                _statement_sites(i, n, field, stmts, first_line, skip, index, function_of, add)
        if id(n) in skip or line(n) < first_line:
            continue
        p = parent.get(id(n))
        if isinstance(n, ast.Compare):
            for k, op in enumerate(n.ops):
                for new in COMPARE_SWAPS.get(type(op), []):
                    add("compare", _set(i, "ops", lambda c, k=k, new=new: c.ops[:k] + [new()] + c.ops[k + 1:]))
        elif isinstance(n, ast.BinOp) and not _texty(n.left, n.right):
            for new in BINOP_SWAPS.get(type(n.op), []):
                add("arith", _set(i, "op", lambda _, new=new: new()))
            if (isinstance(n.op, NON_COMMUTATIVE) and ast.dump(n.left) != ast.dump(n.right)
                    and not isinstance(n.left, ast.Constant) and not isinstance(n.right, ast.Constant)):
                add("swap_operands", _swap(i, "", "left", "right"))
        elif isinstance(n, ast.AugAssign) and not _texty(n.value):
            for new in BINOP_SWAPS.get(type(n.op), []):
                add("arith", _set(i, "op", lambda _, new=new: new()))
        elif isinstance(n, ast.BoolOp):
            add("boolean", _set(i, "op", lambda b: ast.Or() if isinstance(b.op, ast.And) else ast.And()))
        elif isinstance(n, ast.UnaryOp) and isinstance(n.op, ast.Not):
            add("drop_not", _sub(i, lambda u: u.operand))
        elif isinstance(n, ast.Constant) or isinstance(n, ast.UnaryOp) and isinstance(n.op, ast.USub) and _int(n.operand):
            value = n.value if isinstance(n, ast.Constant) else -n.operand.value
            if (isinstance(p, ast.UnaryOp) and isinstance(p.op, ast.USub) and _int(n)
                    or isinstance(p, ast.Return) and isinstance(value, bool)
                    or isinstance(p, ast.Subscript) and p.slice is n
                    or isinstance(p, ast.Slice) and n is not p.step
                    or isinstance(p, ast.Call) and isinstance(p.func, ast.Name) and p.func.id == "range"):
                continue  # -k as a whole; left to return_value and the off_by_one operators
            no_zero = isinstance(p, ast.BinOp) and isinstance(p.op, (ast.Add, ast.Sub)) or isinstance(p, ast.Slice)
            for v in _const_variants(value):
                if not (no_zero and v == 0):
                    add("constant", _sub(i, lambda _, v=v: ast.Constant(v)))
        elif isinstance(n, ast.comprehension):
            for k in range(len(n.ifs)):
                add("missing_branch", _drop(i, "ifs", k))
        elif isinstance(n, (ast.Break, ast.Continue)):
            add("break_continue", _sub(i, lambda b: ast.Continue() if isinstance(b, ast.Break) else ast.Break()))
        elif isinstance(n, ast.Return) and n.value is not None:
            v = n.value
            if isinstance(v, ast.Constant) and isinstance(v.value, bool):
                add("return_value", _set(i, "value", lambda r: ast.Constant(not r.value.value)))
            elif _boolish(v):
                add("return_value", _set(i, "value", lambda r: ast.UnaryOp(ast.Not(), r.value)))
        elif isinstance(n, ast.Subscript):
            s = n.slice
            if isinstance(s, ast.Slice):
                for field, d in (("lower", 1), ("lower", -1), ("upper", 1), ("upper", -1)):
                    bound = getattr(s, field)
                    if bound is not None or s.step is None and (field, d) in (("lower", 1), ("upper", -1)):
                        add("off_by_one_slice", _slice_bound(i, field, d))
            elif (_int(s) or isinstance(s, ast.Name) or isinstance(s, ast.BinOp) and isinstance(s.op, (ast.Add, ast.Sub))
                  or isinstance(s, ast.UnaryOp) and isinstance(s.op, ast.USub) and _int(s.operand)):
                for d in (1, -1):
                    add("off_by_one_slice", _set(i, "slice", lambda x, d=d: _bump(x.slice, d)))
        elif isinstance(n, ast.Call):
            _call_sites(i, n, parent, index, add)
    return sites


def _call_sites(i, n: ast.Call, parent, index, add) -> None:
    name = n.func.id if isinstance(n.func, ast.Name) else None
    positional = not any(isinstance(a, ast.Starred) for a in n.args)
    if name == "range" and positional and 1 <= len(n.args) <= 3 and not n.keywords:
        for k in range(min(2, len(n.args))):
            for d in (1, -1):
                add("off_by_one_range", _set(i, "args", lambda c, k=k, d=d:
                                             c.args[:k] + [_bump(c.args[k], d)] + c.args[k + 1:]))
    if name == "len" and len(n.args) == 1 and not n.keywords:
        p = parent.get(id(n))
        folded = isinstance(p, ast.BinOp) and p.left is n and isinstance(p.op, (ast.Add, ast.Sub)) and _int(p.right)
        for d in (1, -1):
            add("off_by_one_len", _sub(index[id(p)] if folded else i, lambda e, d=d: _bump(e, d)))
    if positional and len(n.args) >= 2:
        for a in range(min(2, len(n.args) - 1)):
            if ast.dump(n.args[a]) != ast.dump(n.args[a + 1]):
                add("swap_args", _swap(i, "args", a, a + 1))
        add("omit_arg", _drop(i, "args", 0 if name == "range" and len(n.args) == 2 else len(n.args) - 1))
    for k, kw in enumerate(n.keywords):
        if kw.arg is not None:
            add("omit_arg", _drop(i, "keywords", k))


def _statement_sites(i, owner, field, stmts, first_line, skip, index, function_of, add) -> None:
    for pos, s in enumerate(stmts):
        if not isinstance(s, ast.stmt) or s.lineno < first_line or id(s) in skip:
            continue
        if not isinstance(s, NOT_REMOVED):
            add("remove_statement", _splice(i, field, pos, lambda _: [ast.Pass()]))
        if isinstance(s, ast.If):
            guard = isinstance(s.body[-1], JUMPS)
            if not s.orelse and guard:
                add("missing_branch", _splice(i, field, pos, lambda _: []))
            if s.orelse:
                add("missing_branch", _set(index[id(s)], "orelse", lambda _: []))
                if len(s.orelse) == 1 and isinstance(s.orelse[0], ast.If) and s.orelse[0].orelse:
                    add("missing_branch", _set(index[id(s)], "orelse", lambda x: x.orelse[0].orelse))
                if guard:
                    add("missing_branch", _splice(i, field, pos, lambda x: x.orelse))
        elif isinstance(s, ast.Assign) and len(s.targets) == 1:
            t = s.targets[0]
            pairs = [(t.id, s.value)] if isinstance(t, ast.Name) else []
            if (isinstance(t, ast.Tuple) and isinstance(s.value, ast.Tuple) and len(t.elts) == len(s.value.elts)
                    and all(isinstance(x, ast.Name) for x in t.elts)):
                pairs = [(x.id, v) for x, v in zip(t.elts, s.value.elts, strict=True)]
            loops = [x for x in stmts[pos + 1:] if isinstance(x, (ast.For, ast.While))]
            for name, v in pairs:
                if any(_updates(loop, name) for loop in loops):
                    for new in INIT_SWAPS.get(ast.unparse(v), ["0"] if _int(v) and v.value not in (0, 1) else []):
                        add("accumulator_init", _sub(index[id(v)], _expr(new)))
        elif isinstance(s, (ast.For, ast.While)) and not isinstance(s.body[-1], JUMPS):
            fn = function_of(owner)
            later = [x for x in stmts[pos + 1:] if isinstance(x, ast.Return) and x.value is not None]
            if fn is not None and not later and isinstance(fn.body[-1], ast.Return) and fn.body[-1].value is not None:
                later = [fn.body[-1]]
            if fn is not None and later:
                loop, ret = index[id(s)], index[id(later[0])]
                add("early_return", lambda nodes, loop=loop, ret=ret:
                    nodes[loop].body.append(copy.deepcopy(nodes[ret])))


# -- sampling -----------------------------------------------------------------------------------

def _render(tree: ast.Module, edit: Edit) -> str | None:
    tree = copy.deepcopy(tree)
    try:
        replaced = edit(list(ast.walk(tree)))
        if replaced is not None:
            _replace(tree, *replaced)
        src = ast.unparse(ast.fix_missing_locations(tree))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            compile(src, "<mutant>", "exec")
    except (SyntaxError, ValueError, TypeError, AttributeError, IndexError, RecursionError):
        return None
    return src


def _replace(tree: ast.Module, old: ast.AST, new: ast.AST) -> None:
    for p in ast.walk(tree):
        for name, value in ast.iter_fields(p):
            if value is old:
                setattr(p, name, new)
                return
            if isinstance(value, list) and any(x is old for x in value):
                value[[x is old for x in value].index(True)] = new
                return


def mutants(program: str, limit: int, rng: random.Random, first_line: int = 1) -> list[tuple[str, str]]:
    """Up to `limit` distinct mutants [(operator, source)] of `program`, changing only nodes on or
    after `first_line`; none textually equal to the program, each compiles."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tree = pyast.parse(program)
    original = ast.unparse(tree)
    groups: dict[str, list[Edit]] = {}
    for op, edit in _sites(tree, first_line):
        groups.setdefault(op, []).append(edit)
    order = sorted(groups)
    rng.shuffle(order)
    for op in order:
        rng.shuffle(groups[op])
    out: list[tuple[str, str]] = []
    seen, rounds = {original}, 0
    while len(out) < limit and any(groups[op] for op in order):
        common_left = any(groups[op] for op in order if op not in RARE)
        for op in order:
            if len(out) >= limit:
                break
            if op in RARE and common_left and rounds % RARE[op] != RARE[op] - 1:
                continue
            while groups[op]:
                src = _render(tree, groups[op].pop())
                if src is not None and src not in seen:
                    seen.add(src)
                    out.append((op, src))
                    break
        rounds += 1
    while len({op for op, _ in out}) >= 4:  # balance: trim operators left alone in the last rounds
        over = [(c - SHARES.get(op, MAX_SHARE) * len(out), op)
                for op, c in sorted(Counter(op for op, _ in out).items()) if c > 1]
        excess, op = max(over, default=(0, ""))
        if excess <= 0:
            break
        del out[max(k for k, (o, _) in enumerate(out) if o == op)]
    return out
