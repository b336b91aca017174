"""Where a deletion can change the linter's verdict: the program cut into views linted on their own.

A program's lint is the union of the lints of its views, each linted as a small module of its
own with what it can see of the rest of the module written before and after it:

- a *region* is the body of a function that sits at module level or only inside classes (a
  top-level function, a method). Its body sees its own scopes and the module's final bindings
  (function bodies are resolved after the whole module), never a class scope. Its text is the
  enclosing class headers, its decorators and header (not judged there), then its body.
- a *chunk* is one top-level statement with the bodies of its regions replaced by `pass`: module
  and class-level code, headers, decorators. Code there is resolved in order, so its text has the
  names bound by earlier top-level statements before it and those bound by later ones after it.

What a view sees of the module is one line `a = b = None` per side for the names it mentions
that are bound there (`from _ import *` for a star import). Names a module-level `del` or
`except ... as name` touches have order-dependent meanings (ruff restores a name after its
`except`; a `del` inside `if` or `while` does not unbind, inside `try`, `for` or `with` it does):
for those, the view gets the real top-level statements that bind or unbind them instead, in
order. A function with a `global` statement is not a region (its `global` binds at module level,
at its position): it is linted with its chunk.

Syntax is judged per view too, on its code alone: each top-level statement parses on its own (a
decorator left without its definition is reported on the decorator, where the whole file's
parser would point at the next statement, and the plain algorithm deleted that one instead).

Deleting a unit can give the selected rules something to report only through a name it binds
or unbinds (in any scope) that its view still mentions, or if it is one of the units that always
need a look: a def/class/for/match/case header, a star or `from __future__` import, an `except`
(`except NameError` hides undefined names in its `try`), a line naming `__all__` or carrying a
noqa comment. A state reached from a lint-clean state by other deletions is lint-clean once it
parses (the walk still re-lints a view whose findings it just applied: ruff reports some only
once, F823 at the first use). A file-wide noqa comment (ruff's or flake8's) makes the whole program
one view.
"""

from __future__ import annotations

import ast
import bisect
import re
import unicodedata
import warnings
from dataclasses import dataclass

from codekiln.transforms import pyast

_IDENT = re.compile(r"[^\W\d]\w*")
_FILE_NOQA = re.compile(r"#\s*(?:ruff|flake8)\s*:\s*noqa", re.IGNORECASE)
_ALWAYS_HEADERS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.For, ast.AsyncFor, ast.Match,
                   ast.match_case)
_COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)


@dataclass
class Layout:
    regular: bool  # False: one view, the whole program (asked for, or a file-wide noqa comment)
    chunk_start: list[int]  # chunk -> its first unit (chunks are consecutive unit ranges)
    chunk: list[int]  # unit -> chunk
    region: list[int]  # unit -> region whose body holds it, or -1
    region_def: list[int]  # region -> its def unit
    region_of_def: dict[int, int]  # def unit -> region
    region_chain: list[tuple[int, ...]]  # region -> enclosing class header units, outermost first
    region_decorators: list[tuple[int, ...]]
    stub_indent: list[str]  # region -> the whitespace of its first body line (for the `pass` stub)
    binds: list[tuple[str, ...]]  # unit -> module-level names it binds ("*": a star import)
    exotic: frozenset[str]  # names a module-level `del` or `except ... as` touches
    touches: list[tuple[str, ...]]  # unit -> exotic names it binds or unbinds at module level
    region_copies: list[tuple[int, ...]]  # region -> chunks to copy into its text (exotic names)
    chunk_copies: list[tuple[int, ...]]  # chunk -> the same for a chunk
    always: list[bool]  # deleting it always needs the linter (else: only if its view still mentions
    local: list[tuple[str, ...]]  # one of the names it binds or unbinds, in any scope)
    unit_ids: list[tuple[str, ...]]  # unit -> identifiers in its lines
    future: list[tuple[str, ...]]  # unit -> `from __future__` features it imports
    region_ids: list[tuple[str, ...]]  # region -> identifiers in its header and body
    chunk_ids: list[tuple[str, ...]]  # chunk -> identifiers in its chunk-level units
    regions_using: dict[str, list[int]]  # name -> regions whose ids have it
    chunks_using: dict[str, list[int]]  # name -> chunks whose ids have it, ascending

    def chunk_end(self, c: int, n_units: int) -> int:
        return self.chunk_start[c + 1] if c + 1 < len(self.chunk_start) else n_units


class _Scan:
    """One pass over the AST: the names each unit binds (at module level, in any scope), the units
    that always need the linter, def/class units, `global` statements."""

    def __init__(self, line_unit: list[int], n: int):
        self.line_unit = line_unit
        self.binds: list[set[str]] = [set() for _ in range(n)]
        self.local: list[set[str]] = [set() for _ in range(n)]  # names bound or unbound in any scope
        self.always = [False] * n  # deleting it always needs the linter
        self.kind: dict[int, str] = {}
        self.future: dict[int, tuple[str, ...]] = {}
        self.global_defs: set[int] = set()  # def units with a `global` statement inside
        self.unbinds: list[set[str]] = [set() for _ in range(n)]  # module-level `del` / `except as`
        self.defs: list[int] = []  # the def units enclosing the current node

    def unit(self, node) -> int:
        return self.line_unit[node.lineno - 1]

    def bind(self, node, name: str, module: bool) -> None:
        u = self.unit(node)
        self.local[u].add(name)
        if module:
            self.binds[u].add(name)

    def visit(self, node, mod: bool, walrus_mod: bool) -> None:
        """`mod`: names stored here bind at module level; `walrus_mod`: so do `:=` targets."""
        if isinstance(node, ast.Name):
            if isinstance(node.ctx, ast.Store):
                self.bind(node, node.id, mod)
            elif isinstance(node.ctx, ast.Del):
                self.local[self.unit(node)].add(node.id)
                if mod:
                    self.unbinds[self.unit(node)].add(node.id)
            return
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            if isinstance(node, ast.ImportFrom) and node.module == "__future__" and node.level == 0:
                self.future[self.unit(node)] = tuple(a.name for a in node.names)
                self.always[self.unit(node)] = True  # it changes how annotations are read
            for a in node.names:
                if a.name == "*":
                    self.bind(node, "*", mod)
                    self.always[self.unit(node)] = True
                elif not (isinstance(node, ast.ImportFrom) and node.module == "__future__"):
                    self.bind(node, a.asname or a.name.split(".")[0], mod)
            return
        if isinstance(node, (ast.Global, ast.Nonlocal)):
            for name in node.names:
                self.bind(node, name, isinstance(node, ast.Global))
            if isinstance(node, ast.Global):
                self.global_defs.update(self.defs)
            return
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            u = self.unit(node)
            self.kind[u] = "class" if isinstance(node, ast.ClassDef) else "def"
            self.bind(node, node.name, mod)
            outer = list(node.decorator_list)
            if isinstance(node, ast.ClassDef):
                outer += node.bases + node.keywords
            else:
                outer += [*node.args.defaults, *[d for d in node.args.kw_defaults if d is not None]]
                outer += [a.annotation for a in (*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs,
                                                 node.args.vararg, node.args.kwarg) if a is not None and a.annotation]
                if node.returns is not None:
                    outer.append(node.returns)
            for child in outer:
                self.visit(child, mod, walrus_mod)
            if not isinstance(node, ast.ClassDef):
                self.defs.append(u)
            for child in node.body:
                self.visit(child, False, False)
            if not isinstance(node, ast.ClassDef):
                self.defs.pop()
            return
        if isinstance(node, ast.Lambda):
            for child in (*node.args.defaults, *[d for d in node.args.kw_defaults if d is not None]):
                self.visit(child, mod, walrus_mod)
            self.visit(node.body, False, False)
            return
        if isinstance(node, _COMPREHENSIONS):
            first, *rest = node.generators
            self.visit(first.iter, mod, walrus_mod)  # evaluated in the enclosing scope
            for gen in node.generators:
                self.visit(gen.target, False, walrus_mod)
                for cond in gen.ifs:
                    self.visit(cond, False, walrus_mod)
            for gen in rest:
                self.visit(gen.iter, False, walrus_mod)
            for elt in ((node.key, node.value) if isinstance(node, ast.DictComp) else (node.elt,)):
                self.visit(elt, False, walrus_mod)
            return
        if isinstance(node, ast.NamedExpr):
            self.bind(node.target, node.target.id, walrus_mod)
            self.visit(node.value, mod, walrus_mod)
            return
        if isinstance(node, ast.AnnAssign) and node.value is None and isinstance(node.target, ast.Name):
            self.local[self.unit(node)].add(node.target.id)  # an annotation alone binds nothing, but makes a local
            self.visit(node.annotation, mod, walrus_mod)
            return
        if isinstance(node, ast.ExceptHandler):  # `except NameError:` hides undefined names in its `try`
            self.always[self.unit(node)] = True
        if isinstance(node, ast.ExceptHandler) and node.name:
            self.local[self.unit(node)].add(node.name)
            if mod:
                self.unbinds[self.unit(node)].add(node.name)
        if isinstance(node, (ast.MatchAs, ast.MatchStar)) and node.name:
            self.bind(node, node.name, mod)
        if isinstance(node, ast.MatchMapping) and node.rest:
            self.bind(node, node.rest, mod)
        if isinstance(node, _ALWAYS_HEADERS):
            self.always[self.line_unit[(node.pattern if isinstance(node, ast.match_case) else node).lineno - 1]] = True
        for child in ast.iter_child_nodes(node):
            self.visit(child, mod, walrus_mod)


def identifiers(text: str) -> set[str]:
    """Every identifier-like word (in code, strings and comments alike: a superset is harmless)."""
    out = set()
    for word in _IDENT.findall(text):
        out.add(word if word.isascii() else unicodedata.normalize("NFKC", word))
    return out


def build_layout(prog, whole: bool = False) -> Layout:
    units, n = prog.units, len(prog.units)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tree = pyast.parse(prog.source)
    scan = _Scan(prog.line_unit, n)
    for stmt in tree.body:
        scan.visit(stmt, True, True)
    texts = ["".join(prog.lines[u.start:u.end]) for u in units]
    # a unit with a noqa comment or naming `__all__` (what ruff checks it against) always needs it too
    always = [a or "noqa" in t.lower() or "__all__" in t for a, t in zip(scan.always, texts, strict=True)]
    local = [tuple(sorted(b)) for b in scan.local]
    if any(_FILE_NOQA.search(t) for t in texts):
        whole = True  # a file-level exemption applies to the file it is in: one view
    binds = [tuple(sorted(b)) for b in scan.binds]
    future = [scan.future.get(u, ()) for u in range(n)]
    starts = sorted({prog.line_unit[min([s.lineno] + [d.lineno for d in getattr(s, "decorator_list", [])]) - 1]
                     for s in tree.body})
    if not starts or starts[0] != 0:
        starts = [0] + starts  # (the first unit always heads a statement; kept for safety)
    if whole:
        starts = [0]
    chunk = [bisect.bisect_right(starts, u) - 1 for u in range(n)]

    region = [-1] * n
    region_def, region_chain, region_decorators, stub_indent = [], [], [], []
    region_of_def: dict[int, int] = {}
    if not whole:
        for d in range(n):
            if scan.kind.get(d) != "def" or not units[d].header or prog.block_end[d] <= d + 1:
                continue
            if d in scan.global_defs:
                continue
            chain, p = [], prog.parent[d]
            while p >= 0 and scan.kind.get(p) == "class":
                chain.append(p)
                p = prog.parent[p]
            if p >= 0:
                continue  # inside a function or a compound statement: part of a larger view
            r = len(region_def)
            region_def.append(d)
            region_of_def[d] = r
            region_chain.append(tuple(reversed(chain)))
            decorators, j = [], d - 1
            while j >= 0 and units[j].decorator and units[j].indent == units[d].indent and prog.block_end[j] >= prog.block_end[d]:
                decorators.append(j)
                j -= 1
            region_decorators.append(tuple(reversed(decorators)))
            first = prog.lines[units[d + 1].code]
            stub_indent.append(first[:len(first) - len(first.lstrip(" \t\f"))])
            for u in range(d + 1, prog.block_end[d]):
                region[u] = r

    unit_ids = [identifiers(t) for t in texts]
    region_sets = []
    for d in region_def:
        ids = {"*"}  # every view sees a star import
        for u in range(d, prog.block_end[d]):
            ids |= unit_ids[u]
        region_sets.append(ids)
    chunk_sets = [{"*"} for _ in starts]
    for u in range(n):
        if region[u] < 0:
            chunk_sets[chunk[u]] |= unit_ids[u]

    exotic = frozenset(name for b in scan.unbinds for name in b) if not whole else frozenset()
    touches = [tuple(sorted((scan.binds[u] | scan.unbinds[u]) & exotic)) for u in range(n)]
    touching: dict[str, set[int]] = {}  # exotic name -> chunks that bind or unbind it
    for u in range(n):
        for name in touches[u]:
            touching.setdefault(name, set()).add(chunk[u])

    def copies(ids: set[str], own: int | None) -> tuple[int, ...]:
        out = set()
        for name in ids & exotic:
            out |= touching[name]
        out.discard(own)
        return tuple(sorted(out))

    region_copies = [copies(ids, None) for ids in region_sets]
    chunk_copies = [copies(ids, c) for c, ids in enumerate(chunk_sets)]
    region_ids = [tuple(sorted(s)) for s in region_sets]
    chunk_ids = [tuple(sorted(s)) for s in chunk_sets]
    regions_using: dict[str, list[int]] = {}
    for r, ids in enumerate(region_ids):
        for name in ids:
            regions_using.setdefault(name, []).append(r)
    chunks_using: dict[str, list[int]] = {}
    for c, ids in enumerate(chunk_ids):
        for name in ids:
            chunks_using.setdefault(name, []).append(c)
    return Layout(not whole, starts, chunk, region, region_def, region_of_def, region_chain,
                  region_decorators, stub_indent, binds, exotic, touches, region_copies, chunk_copies,
                  always, local, [tuple(sorted(i)) for i in unit_ids], future, region_ids, chunk_ids,
                  regions_using, chunks_using)
