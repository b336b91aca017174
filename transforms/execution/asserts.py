"""Data tests: asserts whose comparison the host does, so no program can forge their verdict.

`split(src)` reads a test statically. When every statement of it is an assert (at module level,
or inside a `check(candidate)` function that the test then calls, as HumanEval writes them),
plus imports, literal constants and docstrings, each assert is split in two:

- the *calls*: every call of a function the host does not know (`candidate(...)`, the entry
  point, a program's class) with its arguments, as source the sandbox evaluates. That is all the
  untrusted process sees: the expected values stay here.
- the *judgement*: the rest of the assert (`==`, `!=`, `is`, `abs(x - v) < eps`,
  `math.isclose`, `not`, `len`, `sorted`, ...), evaluated by `judge` on the host over the
  decoded values, with Python's semantics for plain data.

Any other test (loops, helper variables, prints) is not split: it runs in the sandbox as code,
and its verdict is marked `in_process`.
"""

from __future__ import annotations

import ast
import builtins
import dataclasses
import functools
import math
import operator
import warnings
from dataclasses import dataclass

from codekiln.transforms import pyast
from codekiln.transforms.execution import values


class HostLimit(ArithmeticError):
    """A host-side operation would be too large to compute."""


MAX_SEQUENCE = 1_000_000  # items a host-side operation may build
MAX_POW_BITS = 1_000_000
MAX_BIG_BITS = 1 << 16  # both operands larger: no multiplication or division on the host


def _range(*args):
    r = range(*args)
    if len(r) > MAX_SEQUENCE:
        raise HostLimit("a range too large to build")
    return r


def _sum(items, start=0):
    if not isinstance(start, (int, float, complex)):
        raise HostLimit("sum() of sequences (quadratic)")
    return sum(items, start)


def _pow_function(a, b, mod=None):
    if mod is None and isinstance(a, int) and isinstance(b, int):
        _check_pow(a, b)
    if mod is not None and isinstance(b, int) and isinstance(mod, int) and (
            b.bit_length() > MAX_BIG_BITS or mod.bit_length() > MAX_BIG_BITS):
        raise HostLimit("a modular power of huge integers")
    return pow(a, b) if mod is None else pow(a, b, mod)


def _big(*xs) -> bool:
    return all(isinstance(x, int) and x.bit_length() > MAX_BIG_BITS for x in xs)


def _divmod(a, b):
    if _big(a, b):
        raise HostLimit("a division of two huge integers")
    return divmod(a, b)


# Functions the host evaluates itself (over decoded plain data): pure, bounded. A test that
# calls any other builtin or any imported function is not a data test: that call would run in
# the sandbox, where the program can replace it.
HOST_FUNCTIONS = {f.__name__: f for f in (
    abs, all, any, bool, complex, dict, float, frozenset, int, isinstance, len, list, max, min,
    round, set, sorted, str, tuple, type, zip, enumerate, reversed, chr, ord, divmod, hex, oct, bin)}
HOST_FUNCTIONS.update(range=_range, sum=_sum, pow=_pow_function, divmod=_divmod)
SAFE_METHODS = {"lower", "upper", "strip", "lstrip", "rstrip", "split", "rsplit", "splitlines", "startswith",
                "endswith", "count", "index", "find", "rfind", "isdigit", "isalpha", "isalnum", "isspace",
                "islower", "isupper", "title", "capitalize", "swapcase", "casefold", "keys", "values", "items",
                "get", "join", "replace", "zfill", "center", "ljust", "rjust", "copy", "encode", "decode",
                "partition", "rpartition", "removeprefix", "removesuffix", "isnumeric", "isdecimal",
                "isidentifier", "istitle"}
WIDTH_METHODS = {"zfill", "center", "ljust", "rjust"}
HOST_TYPES = {"int": int, "float": float, "str": str, "bool": bool, "list": list, "tuple": tuple,
              "dict": dict, "set": set, "frozenset": frozenset, "complex": complex, "bytes": bytes}
MATH_FUNCTIONS = {n: getattr(math, n) for n in (
    "isclose", "fabs", "isnan", "isinf", "isfinite", "sqrt", "floor", "ceil", "trunc", "log", "log2",
    "log10", "exp", "sin", "cos", "tan", "atan", "atan2", "hypot", "degrees", "radians")}
MATH_CONSTANTS = {n: getattr(math, n) for n in ("pi", "e", "tau", "inf", "nan")}
KNOWN_HELPERS = {"_close": (values.CLOSE_HELPER, values.close)}  # name -> (exact source, host fn)

BINOPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
          ast.Div: operator.truediv, ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod,
          ast.Pow: operator.pow, ast.BitAnd: operator.and_, ast.BitOr: operator.or_,
          ast.BitXor: operator.xor, ast.LShift: operator.lshift, ast.RShift: operator.rshift}
UNARY = {ast.USub: operator.neg, ast.UAdd: operator.pos, ast.Not: operator.not_, ast.Invert: operator.invert}

class NotData(Exception):
    """This test cannot be judged on the host: it runs as code."""


@dataclass(frozen=True)
class Assert:
    expr: ast.expr  # the judgement, with sandbox calls replaced by `__call_K` names
    source: str  # the assert as written (the failure message)
    code: object = None  # `expr` compiled, with `*`, `**` and `<<` through the host's guards


@dataclass(frozen=True)
class DataTest:
    setup: str  # imports the calls need (run in the sandbox before them)
    calls: tuple[str, ...]  # expressions the sandbox evaluates, in order
    asserts: tuple[Assert, ...]


class CallFailed(Exception):
    """A value the judgement needs is missing: the call raised, was not data, or never ran."""

    def __init__(self, record: dict):
        super().__init__(record.get("message") or record.get("type") or "call failed")
        self.record = record


@functools.lru_cache(maxsize=8192)
def split(src: str) -> DataTest | None:
    """The test as a data test, or None when it has to run as code."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tree = pyast.parse(src)
        return _Splitter(src).module(tree)
    except (NotData, SyntaxError, ValueError, RecursionError, MemoryError, TypeError):
        return None


class _Splitter:
    def __init__(self, src: str):
        self.lines = src.splitlines()
        self.setup: list[str] = []
        self.imported: set[str] = set()
        self.constants: dict[str, ast.expr] = {}
        self.helpers: dict[str, object] = {}
        self.calls: list[str] = []
        self.asserts: list[Assert] = []
        self.math_names: dict[str, str] = {}
        self.refs: dict[int, list] = {}  # id(constant node) -> [node, host uses, call uses]

    def module(self, tree: ast.Module) -> DataTest | None:
        checks: dict[str, ast.FunctionDef] = {}
        called: set[str] = set()
        # functions the test defines: only a check function the test calls with the function
        # under test; a call of any other (a reference helper) would run the program's namesake
        self.defined = {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef,
                                                                   ast.ClassDef))} - set(KNOWN_HELPERS)
        for stmt in tree.body:
            if self._common(stmt):
                continue
            if isinstance(stmt, ast.FunctionDef) and stmt.name in KNOWN_HELPERS:
                source, fn = KNOWN_HELPERS[stmt.name]
                if ast.dump(stmt) != ast.dump(pyast.parse(source).body[0]):
                    raise NotData(f"{stmt.name} is not the known helper")
                self.helpers[stmt.name] = fn
            elif isinstance(stmt, ast.FunctionDef) and self._is_check(stmt):
                checks[stmt.name] = stmt
            elif isinstance(stmt, (ast.Assert, ast.For)):
                self._assert(stmt, {})
            elif (isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call)
                  and isinstance(stmt.value.func, ast.Name) and stmt.value.func.id in checks
                  and len(stmt.value.args) == 1 and not stmt.value.keywords
                  and isinstance(stmt.value.args[0], ast.Name)):
                fn = checks[stmt.value.func.id]
                called.add(fn.name)
                subst = {fn.args.args[0].arg: stmt.value.args[0].id}
                for inner in fn.body:
                    if not self._common(inner, local=True):
                        self._assert(inner, subst)
            else:
                raise NotData(type(stmt).__name__)
        if set(checks) - called:
            raise NotData("a function the test defines but does not call as its check")
        if not self.asserts:
            return None
        for const, host, calls in self.refs.values():
            if _mutable(const) and calls and (host or calls > 1):
                # a list the program may change in place: Python would see the change, copies would not
                raise NotData("a mutable constant shared by a call and another use")
        return DataTest("\n".join(self.setup), tuple(self.calls), tuple(self.asserts))

    def _common(self, stmt: ast.stmt, local: bool = False) -> bool:
        """Imports, docstrings, `pass` and (module level) literal constants."""
        if isinstance(stmt, (ast.Import, ast.ImportFrom)):
            self.setup.append(ast.unparse(stmt))
            for alias in stmt.names:
                if alias.name == "*":
                    raise NotData("star import")
                name = (alias.asname or alias.name).split(".")[0]
                if isinstance(stmt, ast.ImportFrom) and stmt.module == "math" and (
                        alias.name in MATH_FUNCTIONS or alias.name in MATH_CONSTANTS):
                    self.math_names[name] = alias.name  # judged with the host's math
                else:
                    self.imported.add(name)
            return True
        if isinstance(stmt, ast.Pass) or (isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant)):
            return True
        if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Name) and stmt.value.id in dir(builtins):
            return True  # a bare `print`: names a builtin, does nothing
        if (not local and isinstance(stmt, ast.Assign) and len(stmt.targets) == 1
                and isinstance(stmt.targets[0], ast.Name)):
            try:
                pyast.literal_eval(stmt.value)
            except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
                raise NotData("a computed constant") from None
            self.constants[stmt.targets[0].id] = stmt.value
            return True
        return False

    @staticmethod
    def _is_check(fn: ast.FunctionDef) -> bool:
        a = fn.args
        return (not fn.decorator_list and len(a.args) == 1 and not a.vararg and not a.kwarg
                and not a.kwonlyargs and not a.posonlyargs and not a.defaults)

    def _assert(self, stmt: ast.stmt, subst: dict[str, str]) -> None:
        if isinstance(stmt, ast.For):
            return self._unroll(stmt, subst)
        if not isinstance(stmt, ast.Assert):
            raise NotData(type(stmt).__name__)
        expr = self._lift(stmt.test, subst)
        source = "\n".join(self.lines[stmt.lineno - 1:stmt.end_lineno]).strip() or ast.unparse(stmt)
        tree = ast.fix_missing_locations(ast.Expression(_Guarded().visit(_copy(expr))))
        self.asserts.append(Assert(expr, source[:500], pyast.compile_tree(tree, "<judgement>", "eval")))

    def _unroll(self, loop: ast.For, subst: dict[str, str]) -> None:
        """`for x in <literal or range(constants)>: <asserts>` -> one assert per item."""
        if loop.orelse or isinstance(loop, ast.AsyncFor):
            raise NotData("for-else")
        items = _literal_items(loop.iter)
        names = _target_names(loop.target)
        if len(self.asserts) + len(items) * len(loop.body) > MAX_UNROLLED:
            raise NotData("too many asserts to unroll")
        saved = dict(self.constants)
        try:
            for item in items:
                bound = _bind(loop.target, item)
                for name, value in bound.items():
                    self.constants[name] = pyast.parse(repr(value), mode="eval").body
                first = len(self.asserts)
                for inner in loop.body:
                    self._assert(inner, subst)
                where = ", ".join(f"{k} = {v!r}" for k, v in bound.items())[:200]
                self.asserts[first:] = [dataclasses.replace(a, source=f"{a.source}  (with {where})")
                                        for a in self.asserts[first:]]
        finally:
            self.constants = saved
        if any(n in subst for n in names):
            raise NotData("the loop rebinds the function under test")

    def _lift(self, node: ast.expr, subst: dict[str, str]) -> ast.expr:
        """The judgement part of `node`; sandbox calls become `__call_K` names."""
        if isinstance(node, ast.Constant):
            return node
        if isinstance(node, ast.Name):
            if node.id in self.constants:
                const = self.constants[node.id]
                self.refs.setdefault(id(const), [const, 0, 0])[1] += 1
                return const
            if node.id in self.math_names and self.math_names[node.id] in MATH_CONSTANTS:
                return ast.Attribute(ast.Name("math", ast.Load()), self.math_names[node.id], ast.Load())
            if node.id in HOST_TYPES or node.id in self.helpers:
                return node
            raise NotData(f"name {node.id}")
        if isinstance(node, ast.Attribute):
            if isinstance(node.value, ast.Name) and node.value.id == "math" and node.attr in MATH_CONSTANTS:
                return node
            raise NotData("attribute")
        if isinstance(node, ast.Call):
            if any(isinstance(a, ast.Starred) for a in node.args) or any(k.arg is None for k in node.keywords):
                raise NotData("a call with * or ** arguments")
            func = self._host_function(node.func)
            if func is not None:
                if isinstance(func, str):  # a method of plain data, judged on the host
                    return ast.Call(ast.Name("__method__", ast.Load()),
                                    [self._lift(node.func.value, subst), ast.Constant(func)]
                                    + [self._lift(a, subst) for a in node.args],
                                    [ast.keyword(k.arg, self._lift(k.value, subst)) for k in node.keywords])
                return ast.Call(func, [self._lift(a, subst) for a in node.args],
                                [ast.keyword(k.arg, self._lift(k.value, subst)) for k in node.keywords])
            return self._sandbox_call(node, subst)
        if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
            if any(isinstance(e, ast.Starred) for e in node.elts):
                raise NotData("starred")
            return type(node)([self._lift(e, subst) for e in node.elts], ast.Load()) \
                if not isinstance(node, ast.Set) else ast.Set([self._lift(e, subst) for e in node.elts])
        if isinstance(node, ast.Dict):
            if any(k is None for k in node.keys):
                raise NotData("dict unpacking")
            return ast.Dict([self._lift(k, subst) for k in node.keys], [self._lift(v, subst) for v in node.values])
        if isinstance(node, ast.BinOp) and type(node.op) in BINOPS:
            return ast.BinOp(self._lift(node.left, subst), node.op, self._lift(node.right, subst))
        if isinstance(node, ast.UnaryOp) and type(node.op) in UNARY:
            return ast.UnaryOp(node.op, self._lift(node.operand, subst))
        if isinstance(node, ast.BoolOp):
            return ast.BoolOp(node.op, [self._lift(v, subst) for v in node.values])
        if isinstance(node, ast.Compare):
            return ast.Compare(self._lift(node.left, subst), node.ops, [self._lift(c, subst) for c in node.comparators])
        if isinstance(node, ast.IfExp):
            return ast.IfExp(self._lift(node.test, subst), self._lift(node.body, subst), self._lift(node.orelse, subst))
        if isinstance(node, ast.Subscript):
            return ast.Subscript(self._lift(node.value, subst), self._lift(node.slice, subst), ast.Load())
        if isinstance(node, ast.Slice):
            return ast.Slice(*(None if p is None else self._lift(p, subst) for p in (node.lower, node.upper, node.step)))
        raise NotData(type(node).__name__)

    def _host_function(self, func: ast.expr):
        """How the host evaluates a call of `func`: an AST for the function, a method name
        (str), or None when it is a call of the program's own code (run in the sandbox). Raises
        NotData for anything else: a builtin, library or test-defined function, or a method of a
        literal the host does not evaluate, would run where the program can replace it."""
        if isinstance(func, ast.Name):
            name = func.id
            if name in HOST_FUNCTIONS or name in self.helpers:
                return func
            if name in self.math_names and self.math_names[name] in MATH_FUNCTIONS:
                return ast.Attribute(ast.Name("math", ast.Load()), self.math_names[name], ast.Load())
            if (name in self.imported or name in self.constants or name in self.defined
                    or name in dir(builtins)):
                raise NotData(f"{name}() would run where the program can replace it")
            return None  # the program's function
        if not isinstance(func, ast.Attribute):
            raise NotData("a call of a computed function")
        base = func.value
        if isinstance(base, ast.Name) and base.id == "math":
            if func.attr in MATH_FUNCTIONS:
                return func
            raise NotData(f"math.{func.attr}")
        if isinstance(base, ast.Name) and (base.id in self.imported or base.id in dir(builtins)
                                           or base.id in self.defined):
            raise NotData(f"{base.id}.{func.attr}() would run where the program can replace it")
        if self._plain_base(base):
            if func.attr in SAFE_METHODS:
                return func.attr
            raise NotData(f".{func.attr}() of plain data is not evaluated on the host")
        return None  # a method of the program's objects

    def _plain_base(self, node: ast.expr) -> bool:
        """Whether a method is called on plain data (a literal, a constant, what a function
        returned), not on one of the program's objects (`Solution().count(3)`)."""
        if isinstance(node, (ast.Constant, ast.List, ast.Tuple, ast.Dict, ast.Set, ast.Subscript, ast.JoinedStr,
                             ast.BinOp)):
            return True
        if isinstance(node, ast.Name):
            return node.id in self.constants
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            return not node.func.id[:1].isupper()
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            return self._plain_base(node.func.value)  # a chain: "a b".strip().split()
        return False

    def _sandbox_call(self, node: ast.Call, subst: dict[str, str]) -> ast.Name:
        call = _Rename(subst, self.constants, self.refs).visit(_copy(node))
        for sub in ast.walk(call):
            if isinstance(sub, (ast.Lambda, ast.NamedExpr, ast.Yield, ast.YieldFrom, ast.Await)):
                raise NotData("a call argument that is not an expression of inputs")
        self.calls.append(ast.unparse(call))
        return ast.Name(f"__call_{len(self.calls) - 1}", ast.Load())


MAX_UNROLLED = 1000


def _literal_items(node: ast.expr) -> list:
    """The items of a loop's iterable when they are known without running anything."""
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "range"
            and not node.keywords and 1 <= len(node.args) <= 3):
        try:
            bounds = [pyast.literal_eval(a) for a in node.args]
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            raise NotData("a computed range") from None
        if not all(type(b) is int for b in bounds) or len(range(*bounds)) > MAX_UNROLLED:
            raise NotData("a range to unroll")
        return list(range(*bounds))
    try:
        value = pyast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        raise NotData("a computed iterable") from None
    if not isinstance(value, (list, tuple)) or len(value) > MAX_UNROLLED:
        raise NotData("an iterable to unroll")
    for v in value:
        if pyast.literal_eval(repr(v)) != v:
            raise NotData("an item without a literal form")
    return list(value)


def _target_names(target: ast.expr) -> list[str]:
    if isinstance(target, ast.Name):
        return [target.id]
    if isinstance(target, (ast.Tuple, ast.List)) and all(isinstance(e, (ast.Name, ast.Tuple, ast.List)) for e in target.elts):
        return [n for e in target.elts for n in _target_names(e)]
    raise NotData("a loop target that is not names")


def _bind(target: ast.expr, item) -> dict:
    if isinstance(target, ast.Name):
        return {target.id: item}
    if not isinstance(item, (list, tuple)) or len(item) != len(target.elts):
        raise NotData("a loop item that does not unpack")
    out = {}
    for t, v in zip(target.elts, item, strict=True):
        out.update(_bind(t, v))
    return out


class _Rename(ast.NodeTransformer):
    """A check function's parameter -> the function it is called with; constants inlined."""

    def __init__(self, subst: dict[str, str], constants: dict[str, ast.expr], refs: dict[int, list]):
        self.subst, self.constants, self.refs = subst, constants, refs

    def visit_Name(self, node):
        if node.id in self.subst:
            return ast.copy_location(ast.Name(self.subst[node.id], node.ctx), node)
        if node.id in self.constants:
            const = self.constants[node.id]
            self.refs.setdefault(id(const), [const, 0, 0])[2] += 1
            return _copy(const)
        return node


def _mutable(node: ast.expr) -> bool:
    return any(isinstance(n, (ast.List, ast.Dict, ast.Set, ast.ListComp)) for n in ast.walk(node))


def _copy(node):
    return pyast.parse(ast.unparse(node), mode="eval").body


class _Guarded(ast.NodeTransformer):
    """`a * b`, `a ** b`, `a << b` -> calls of the guarded host operations."""

    NAMES = {ast.Mult: "__mul__", ast.Pow: "__pow__", ast.LShift: "__lshift__", ast.Mod: "__mod__"}

    def visit_BinOp(self, node):
        self.generic_visit(node)
        if (isinstance(node.op, ast.Mod) and isinstance(node.left, ast.Constant)
                and isinstance(node.left.value, str) and "*" not in node.left.value):
            return node  # a literal format: its widths are the test's own
        name = self.NAMES.get(type(node.op))
        if name is None:
            return node
        return ast.copy_location(ast.Call(ast.Name(name, ast.Load()), [node.left, node.right], []), node)


# ------------------------------------------------------------------------------------------
# judging on the host


def judge(test: DataTest, records: list[dict | None], end: dict | None) -> dict:
    """The verdict of a data test from what the sandbox returned for its calls.

    `records[k]` is {"value": wire text} | {"error": info} | {"non_data": why} | None (not run);
    `end` is how the test's process ended when it did not finish (timeout, crash, ...).
    """
    scope = _Values(records, end)
    for a in test.asserts:
        try:
            ok = bool(eval(a.code, {"__builtins__": {}}, scope))  # noqa: S307 - a whitelisted judgement
        except CallFailed as e:
            return dict(e.record, trust="isolated")
        except Exception as e:  # noqa: BLE001 - the judgement raised, as the assert would have
            return {"verdict": "failed", "type": type(e).__name__, "message": str(e)[:2000],
                    "where": "test", "trust": "isolated"}
        if not ok:
            return {"verdict": "failed", "type": "AssertionError", "message": a.source, "where": "test",
                    "trust": "isolated"}
    # every assert held on values that arrived; calls it did not need may not have finished
    # (`f(0) == 0 or f(1) == 0` with f(1) looping passes, as in Python)
    return {"verdict": "passed", "trust": "isolated"}


class _Values(dict):
    """The judgement's names: host functions and types, and the calls' values, decoded on first use."""

    def __init__(self, records, end):
        super().__init__(HOST_NAMES)
        self.records, self.end = records, end

    def __missing__(self, name: str):
        if not name.startswith("__call_"):
            raise NameError(name)
        k = int(name[7:])
        rec = self.records[k] if k < len(self.records) else None
        if rec is None:
            raise CallFailed(self.end or {"verdict": "failed", "type": "Harness", "message": "the call was not run"})
        if "error" in rec:
            info = rec["error"]
            raise CallFailed(dict(info, verdict="memory_exceeded" if info.get("type") == "MemoryError" else "failed"))
        if "non_data" in rec:
            raise CallFailed({"verdict": "failed", "type": "non_data_result", "message": rec["non_data"]})
        try:
            value = values.decode(rec.get("value"))
        except values.NonData as e:
            raise CallFailed({"verdict": "failed", "type": "non_data_result", "message": str(e)}) from None
        self[name] = value
        return value


def _check_pow(a: int, b: int) -> None:
    if b > 0 and abs(a) > 1 and b * max(abs(a).bit_length(), 1) > MAX_POW_BITS:
        raise HostLimit("a power too large to compute")


def _guard(op: ast.operator, left, right) -> None:
    """Host-side arithmetic must not be a way to exhaust the host."""
    if isinstance(op, (ast.Mult, ast.Div, ast.FloorDiv, ast.Mod)) and _big(left, right):
        raise HostLimit("arithmetic on two huge integers")
    if isinstance(op, ast.Mult):
        for seq, n in ((left, right), (right, left)):
            if isinstance(seq, (str, bytes, list, tuple)) and isinstance(n, int) and len(seq) * n > MAX_SEQUENCE:
                raise HostLimit("a repetition too large to build")
    elif isinstance(op, ast.Pow) and isinstance(left, int) and isinstance(right, int):
        _check_pow(left, right)
    elif isinstance(op, ast.Mod) and isinstance(left, (str, bytes)):
        raise HostLimit("%-formatting on the host")
    elif isinstance(op, ast.LShift) and isinstance(right, int) and right > MAX_POW_BITS:
        raise HostLimit("a shift too large to compute")


def _mul(a, b):
    _guard(ast.Mult(), a, b)
    return a * b


def _pow(a, b):
    _guard(ast.Pow(), a, b)
    return a ** b


def _lshift(a, b):
    _guard(ast.LShift(), a, b)
    return a << b


def _mod(a, b):
    _guard(ast.Mod(), a, b)
    return a % b


def _method(obj, name: str, *args, **kwargs):
    """A whitelisted method of a plain value, with the size guards a method can need."""
    if not isinstance(obj, (str, bytes, list, tuple, dict, set, frozenset)):
        raise TypeError(f"{type(obj).__name__} has no host method {name}")
    if name == "join" and args:
        parts = list(args[0])
        if sum(len(p) for p in parts if isinstance(p, (str, bytes))) + len(obj) * len(parts) > MAX_SEQUENCE:
            raise HostLimit("a join too large to build")
        return obj.join(parts, **kwargs)
    if name in WIDTH_METHODS and args and isinstance(args[0], int) and args[0] > MAX_SEQUENCE:
        raise HostLimit("a padding too wide to build")
    if name == "replace" and len(args) >= 2 and isinstance(obj, (str, bytes)):
        if (obj.count(args[0]) + 1) * len(args[1]) + len(obj) > MAX_SEQUENCE:
            raise HostLimit("a replace too large to build")
    return getattr(obj, name)(*args, **kwargs)


class _Math:
    """`math` as the judgement sees it: only the whitelisted names."""

    def __init__(self):
        for name, value in {**MATH_FUNCTIONS, **MATH_CONSTANTS}.items():
            setattr(self, name, value)


HOST_NAMES = {**HOST_FUNCTIONS, **HOST_TYPES, **{name: fn for name, (_, fn) in KNOWN_HELPERS.items()},
              "math": _Math(), "__mul__": _mul, "__pow__": _pow, "__lshift__": _lshift, "__mod__": _mod,
              "__method__": _method}
