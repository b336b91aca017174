"""One canonical rendering of a candidate program, so that rows differ by what programs do, not by
how they were typed (a reference, its `ast.unparse`d mutants, model samples with CRLF, tabs or
comments, LLM answers that restate the whole function all come out alike), and so that in TRL's
standard format `prompt + completion` is the program.

The canonical form, a function of the candidate's AST and the prompt only:

* The prompt is kept verbatim up to `normalise_prompt`: CRLF and CR become LF, tabs in a line's
  leading whitespace become spaces (tab stops of 4). Nothing else changes: users see the original.
* Continuing form (`continues_prompt`), when the prompt is code ending in `def entry_point(...):`
  (docstring optional; a `pass` body is added for analysis only) and the candidate agrees with it
  by AST: the prompt's top-level statements appear, in order, before the candidate's entry
  function (its first top-level def of that name); the entry function has the prompt's signature (name, arguments, annotations,
  decorators, returns) and starts with the prompt's body (the docstring, compared up to its
  indentation). Then `completion` is the rest of the body, `ast.unparse`d at the indentation of
  the prompt's body (4 spaces past the def when it has none), with no blank lines, then each extra
  top-level statement of the candidate, `ast.unparse`d after one blank line.
  Extras written before the entry function are moved after it (keeping their order) when that
  cannot change behaviour: only imports and defs whose decorators/defaults/annotations make no call
  move, and only past statements that neither bind nor read at definition time what they bind
  (and bind nothing they read); anything else (executable code, classes, `from __future__`, star
  imports, a name the entry function needs when it is defined) selects the full form. A newline
  starts the completion when the prompt does not end with one.
* Full form (otherwise, e.g. a natural-language prompt): `program == completion ==
  ast.unparse(module)` with blank lines kept only before top-level statements.

Either way: comments go; quotes and spacing are `ast.unparse`'s; the candidate's docstrings are
re-indented to where they are rendered (indentation is layout, stripped by the compiler from Python
3.13 on; leading tabs count 4, trailing whitespace goes); no CRLF, no tab, no trailing whitespace
outside string literals (whose content is the program's); one final newline. `program` always
parses; in the continuing form its AST is checked to equal the candidate's up to the moved extras
(else the full form is used). A candidate is a full program or, when it does not parse alone or
defines no entry function, a body to append to the prompt (EvalPlus "completion"). Nothing runs.
"""

from __future__ import annotations

import ast
import copy
import functools
import io
import re
import tokenize
import warnings
from dataclasses import dataclass

from codekiln.transforms import pyast

MAX_CHARS = 100_000
_DEFS = (ast.FunctionDef, ast.AsyncFunctionDef)
_FAILURES = (SyntaxError, ValueError, RecursionError, MemoryError, tokenize.TokenError)


@dataclass(frozen=True)
class Rendered:
    program: str  # the canonical full program: exactly prompt_text + completion when continues_prompt
    completion: str  # what follows the prompt (or the whole canonical program when not continues_prompt)
    continues_prompt: bool


def normalise_prompt(prompt: str) -> str:
    text = prompt.replace("\r\n", "\n").replace("\r", "\n")
    return re.sub(r"(?m)^[ \t]+", lambda m: m.group().expandtabs(4), text)


def render(program: str, prompt: str, entry_point: str) -> Rendered | None:
    """The canonical rendering of a candidate; None when it does not parse, is empty or too big."""
    if len(program) > MAX_CHARS:
        return None
    try:
        return _render(program.replace("\r\n", "\n").replace("\r", "\n"), _prompt(prompt, entry_point))
    except _FAILURES:
        return None


@dataclass(frozen=True)
class _Prompt:
    text: str  # normalise_prompt(prompt)
    pre: tuple[ast.stmt, ...]  # top-level statements before the entry function
    entry: ast.FunctionDef | ast.AsyncFunctionDef
    head: tuple[ast.stmt, ...]  # the entry function's statements in the prompt (docstring, ...)
    indent: str  # of the entry function's body


@functools.lru_cache(maxsize=512)
def _prompt(prompt: str, entry_point: str) -> _Prompt | None:
    """The prompt as code to continue, or None (natural language, or not ending in the entry def)."""
    text = normalise_prompt(prompt)
    if len(text) > MAX_CHARS:
        return None
    try:
        tree, completed = _parse(text), False
        defs = re.findall(r"(?m)^( *)(?:async\s+)?def\s", text)
        if tree is None and defs:  # the entry def has no body yet
            sep = "" if text.endswith("\n") else "\n"
            tree, completed = _parse(f"{text}{sep}{defs[-1]}    pass\n"), True
    except _FAILURES:
        return None
    if tree is None or not tree.body:
        return None
    entry = tree.body[-1]
    if not isinstance(entry, _DEFS) or entry.name != entry_point:
        return None
    head = entry.body[:-1] if completed else entry.body
    indent = " " * entry.col_offset + "    "
    if head:  # the body continues at the indentation of the prompt's body
        indent = text.split("\n")[head[0].lineno - 1][:head[0].col_offset]
        if indent.strip() or head[0].lineno == entry.lineno:
            return None
    return _Prompt(text, tuple(tree.body[:-1]), entry, tuple(head), indent)


def _render(src: str, p: _Prompt | None) -> Rendered | None:
    tree = _parse(src)
    if p is not None and (tree is None or not any(isinstance(s, _DEFS) and s.name == p.entry.name
                                                  for s in tree.body)):
        tree = _parse(p.text + src) or tree  # a body to append to the prompt
    if tree is None or not tree.body:
        return None
    if p is not None and (completion := _continuation(tree, p)) is not None:
        return Rendered(p.text + completion, completion, True)
    text = _tidy(ast.unparse(ast.Module(_docstrings(tree.body, 0, True), [])), "")
    return Rendered(text, text, False) if _parse(text) is not None else None


def _continuation(tree: ast.Module, p: _Prompt) -> str | None:
    i = next((k for k, s in enumerate(tree.body) if isinstance(s, _DEFS) and s.name == p.entry.name), None)
    if i is None:
        return None
    entry, n = tree.body[i], len(p.head)
    if _signature(entry) != _signature(p.entry):
        return None
    if list(map(_dump, entry.body[:n])) != list(map(_dump, p.head)):
        return None
    kept, moved, want = [], [], list(map(_dump, p.pre))
    for s in tree.body[:i]:  # the prompt's statements, in order; the others move after the entry
        if len(kept) < len(want) and _dump(s) == want[len(kept)]:
            kept.append(s)
        else:
            moved.append((s, len(kept)))
    if len(kept) < len(want) or not all(_movable(s, [*kept[k:], entry]) for s, k in moved):
        return None
    extras = [s for s, _ in moved] + tree.body[i + 1:]
    text = "" if p.text.endswith("\n") else "\n"
    if entry.body[n:]:
        body = _docstrings(entry.body[n:], len(p.indent), True)
        text += _tidy(ast.unparse(ast.Module(body, [])), p.indent)
    text += "".join("\n" + _tidy(ast.unparse(_docstrings([s], 0, False)[0]), "") for s in extras)
    check = _parse(p.text + text)  # the text says what the candidate's AST says
    if check is None or list(map(_dump, check.body)) != list(map(_dump, [*kept, entry, *extras])):
        return None
    return text


def _movable(s: ast.stmt, past: list[ast.stmt]) -> bool:
    """Whether running `s` after the statements `past` instead of before cannot change behaviour."""
    if isinstance(s, ast.ImportFrom) and (s.module == "__future__" or any(a.name == "*" for a in s.names)):
        return False
    if not isinstance(s, (ast.Import, ast.ImportFrom, *_DEFS)):
        return False
    acts = (ast.Call, ast.Await, ast.Yield, ast.YieldFrom, ast.NamedExpr)
    if isinstance(s, _DEFS) and any(isinstance(x, acts) for e in _def_time(s) if e for x in ast.walk(e)):
        return False
    binds, reads = _effects(s)
    return all(not (binds & (b | r) or reads & b) for b, r in map(_effects, past))


def _effects(s: ast.stmt) -> tuple[set[str], set[str]]:
    """(names a top-level statement binds, names it reads when it runs), over-approximated."""
    if isinstance(s, (ast.Import, ast.ImportFrom)):
        return {(a.asname or a.name).split(".")[0] for a in s.names}, set()
    if isinstance(s, _DEFS):
        reads = _names(_def_time(s))
        return reads | {s.name}, reads
    names = _names([s])
    return names, names


def _def_time(d: ast.FunctionDef | ast.AsyncFunctionDef) -> list[ast.AST]:
    a = d.args
    params = [*a.posonlyargs, *a.args, *a.kwonlyargs, a.vararg, a.kwarg]
    return [*d.decorator_list, *a.defaults, *a.kw_defaults, d.returns,
            *(x.annotation for x in params if x is not None)]


def _names(nodes: list[ast.AST | None]) -> set[str]:
    out = set()
    for x in (x for n in nodes if n is not None for x in ast.walk(n)):
        if isinstance(x, ast.Name):
            out.add(x.id)
        elif isinstance(x, (*_DEFS, ast.ClassDef)):
            out.add(x.name)
        elif isinstance(x, ast.alias):
            out.add((x.asname or x.name).split(".")[0])
        elif isinstance(x, (ast.Global, ast.Nonlocal)):
            out.update(x.names)
    return out


def _signature(d: ast.stmt) -> str:
    header = copy.copy(d)
    header.body = []
    return ast.dump(header)


def _is_doc(s: ast.stmt) -> bool:
    return isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant) and isinstance(s.value.value, str)


def _docstring(value: str, column: int) -> str:
    """A docstring's text for a body at `column`: its lines after the first re-indented there
    (leading tabs count 4), without trailing whitespace; the closing quotes on their own line stay."""
    lines = [re.sub(r"^[ \t]+", lambda m: m.group().expandtabs(4), line) for line in value.split("\n")]
    margin = min((len(x) - len(x.lstrip(" ")) for x in lines[1:] if x.strip()), default=0)
    out = [lines[0].rstrip()] + [" " * column + x[margin:].rstrip() if x.strip() else "" for x in lines[1:]]
    if len(lines) > 1 and not lines[-1].strip():
        out[-1] = " " * column
    return "\n".join(out)


def _docstrings(stmts: list[ast.stmt], column: int, first: bool) -> list[ast.stmt]:
    """Copies of `stmts` (a body at `column`) with canonical docstrings: indentation is layout
    (the compiler strips it from Python 3.13 on). `first`: the first statement is one too."""
    stmts = copy.deepcopy(stmts)

    def fix(body: list[ast.stmt], column: int, first: bool) -> None:
        if first and body and _is_doc(body[0]):
            body[0] = ast.Expr(ast.Constant(_docstring(body[0].value.value, column)))
        for s in body:
            blocks = [(getattr(s, f, None), 4) for f in ("body", "orelse", "finalbody")]
            blocks += [(h.body, 4) for h in getattr(s, "handlers", [])]
            blocks += [(c.body, 8) for c in getattr(s, "cases", [])]  # match: case: body
            for block, step in blocks:
                if isinstance(block, list) and block:
                    if isinstance(s, ast.If) and block is s.orelse and len(block) == 1 and isinstance(block[0], ast.If):
                        step = 0  # unparsed as elif
                    fix(block, column + step, isinstance(s, (*_DEFS, ast.ClassDef)) and block is s.body)

    fix(stmts, column, first)
    return stmts


class _Docstrings(ast.NodeTransformer):
    def visit_Expr(self, node: ast.Expr) -> ast.Expr:
        return ast.Expr(ast.Constant(_docstring(node.value.value, 0))) if _is_doc(node) else node


def _dump(s: ast.stmt) -> str:
    """ast.dump, with string statements (docstrings) compared up to their indentation."""
    return ast.dump(_Docstrings().visit(copy.deepcopy(s)))


def _parse(src: str) -> ast.Module | None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # SyntaxWarning: invalid escape sequences
            return pyast.parse(src)
    except (SyntaxError, ValueError):
        return None


def _tidy(text: str, indent: str) -> str:
    """`ast.unparse` output re-indented by `indent` (then without blank lines), else with blank
    lines only before top-level statements; lines inside multi-line strings are left alone."""
    inside = set()
    for tok in tokenize.generate_tokens(io.StringIO(text).readline):
        if tok.type == tokenize.STRING or tok.type == getattr(tokenize, "FSTRING_MIDDLE", None):
            inside.update(range(tok.start[0], tok.end[0]))  # 0-based indices of continuation lines
    lines, out = text.split("\n"), []
    for k, line in enumerate(lines):
        if k in inside:
            out.append(line)
        elif line:
            out.append(indent + line)
        elif not indent and k + 1 < len(lines) and lines[k + 1][:1] not in ("", " "):
            out.append(line)
    return "\n".join(out) + "\n"
