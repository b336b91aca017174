"""LintSeq (Piterbarg, Pinto, Fergus: "Training Language Models on Synthetic Edit Sequences
Improves Code Synthesis"): a program is taken apart by linter-guided random deletions, then
replayed as insertion-only diffs, each intermediate program lint-clean.

Backward walk, per path: sample a seed unit (a logical line; weight 1 at top level, its nesting
depth below), delete it with the block it heads; then lint and delete every unit the linter
flags, until the program is clean again; record it; repeat until nothing is left. Reversed, the
recorded states give the edits: unified-diff hunks with no context and no file headers.

Lockstep batching: all walks of a batch advance together and each round's pending texts are
linted in ONE ruff process (`Ruff.check_many`); `per_check=True` is the one-process-per-check
baseline. Syntax is CPython's parser, in process.

Cost per step does not grow with the program (it used to: every step re-parsed, re-linted and
re-joined the whole program, and the seed draw, the state snapshot and each diff were O(program),
times O(program) steps). Now:
- the program is linted in views (layout.py: a function body, or one top-level statement with
  its function bodies stubbed), each with what it sees of the rest of the module written around
  it (a line of the module-level names bound before it, one of those bound after); a deletion
  marks dirty only its view and, when it removes the first, last or only binding of a
  module-level name, the views that mention that name. Only dirty views are parsed and linted;
- a changed view needs the parser only, not the linter, unless a deleted unit bound a name that
  the view still mentions (or is one of the few kinds that always need a look);
- the seed is drawn from a Fenwick tree of the alive units' weights, a walk records the units
  each step deleted (not a snapshot of the state), and the hunks are computed from those with a
  Fenwick tree of the lines present.

A prompt the program continues (HumanEval's signature and docstring, say) can be the starting
state instead of the empty program (`Job.prefix`): its units are never deleted, so the edits
write only what follows it and never re-insert the prompt. That needs the prompt to end on a
unit boundary and to be a clean state itself; otherwise, or if a walk would have to delete a
prompt line to get clean, the program is walked down to the empty program as usual.

Bounded work: a program over `max_lines` lines is rejected before any work (`too_large`); the
lines parsed and linted while sampling are counted per program over all its paths, and past
`budget` the program is rejected (`budget_exceeded`): counted, so the same on an idle or a busy
machine. A wall-clock backstop (`backstop_seconds`, per batch) exists only for the unforeseen.
"""

from __future__ import annotations

import bisect
import random
import re
import time
from collections import Counter
from dataclasses import dataclass, field

from codekiln.transforms.lintseq.layout import Layout
from codekiln.transforms.lintseq.linter import Finding, Ruff, syntax_error
from codekiln.transforms.lintseq.program import Program
from codekiln.transforms.rng import seeded_rng

DIFF_TOKEN = "<|diff|>"
NO_NEWLINE = "\\ No newline at end of file\n"
HUNK_RE = re.compile(r"^@@ -(\d+),(\d+) \+(\d+),(\d+) @@$")
_INDENTED_AFTER = re.compile(r"on line (\d+)")

# Defaults of the caps (LintSeqParams), measured on 2 cores with 5 paths: a 2,000-line program
# takes ~5 s (a 10,000-line one ~35 s, ~4,200 edits per path); 90% of the stdlib's top-level
# modules are under 2,000 lines. Stdlib files of 300-2,000 lines need 34k checked lines per
# program at the median, 284k at most; a single 2,000-line function (all one view, quadratic
# inside it) 12M and 200 s: the budget stops that at a sixth.
MAX_PROGRAM_LINES = 2000
MAX_CHECKED_LINES = 2_000_000


class ProgramRejected(Exception):
    def __init__(self, reason: str, detail: str):
        super().__init__(f"{reason}: {detail}")
        self.reason, self.detail = reason, detail


@dataclass
class EditPath:
    path_index: int
    edits: list[str]
    start: str = ""  # the state the edits start from: empty, or the prompt (Job.prefix)

    @property
    def states(self) -> list[str]:
        """The forward states, the start first, the program last (replayed on demand)."""
        out, lines = [self.start], _split_lines(self.start)
        for edit in self.edits:
            lines = _apply_one(lines, edit)
            out.append("".join(lines))
        return out


@dataclass
class Job:
    """One program to take apart `paths` times."""

    program: str
    source_id: str
    paths: int = 5
    seed: int = 0
    max_edits: int = 0  # 0: no cap; otherwise the tail of a longer path becomes one final jump
    max_lines: int = MAX_PROGRAM_LINES  # 0: no cap; a longer program is rejected (too_large)
    budget: int = MAX_CHECKED_LINES  # 0: none; lines parsed + linted over all paths (budget_exceeded)
    prefix: str = ""  # a prompt the program continues: the start state when it is a clean one
    tries: int = 0  # walks at most to find `paths` distinct sequences (0: 4 x paths)

    @property
    def max_tries(self) -> int:
        return max(self.tries or 4 * self.paths, self.paths)


def path_rng(seed: int, source_id: str, path_index: int) -> random.Random:
    """The walk's randomness depends only on (seed, program id, path), never on batching."""
    return seeded_rng(seed, source_id, path_index)


class _Fenwick:
    """Prefix sums over a fixed-size array of non-negative ints, with point updates."""

    def __init__(self, values: list[int]):
        self.n = len(values)
        tree = [0] + list(values)
        for i in range(1, self.n + 1):
            j = i + (i & -i)
            if j <= self.n:
                tree[j] += tree[i]
        self.tree = tree
        self.top = 1 << self.n.bit_length()

    def add(self, i: int, delta: int) -> None:
        i += 1
        while i <= self.n:
            self.tree[i] += delta
            i += i & -i

    def prefix(self, i: int) -> int:
        """Sum of values[0:i]."""
        s = 0
        while i > 0:
            s += self.tree[i]
            i -= i & -i
        return s

    def find(self, r: int) -> int:
        """The smallest i with prefix(i + 1) > r (0 <= r < the total)."""
        pos, step = 0, self.top
        while step:
            nxt = pos + step
            if nxt <= self.n and self.tree[nxt] <= r:
                pos = nxt
                r -= self.tree[nxt]
            step >>= 1
        return pos


@dataclass
class _Budget:
    """Work counted for one program over all its paths."""

    limit: int
    spent: int = 0
    exceeded: bool = False
    timed_out: bool = False

    def spend(self, lines: int) -> None:
        self.spent += lines
        if self.limit and self.spent > self.limit:
            self.exceeded = True


class _Walk:
    """One backward walk: the alive units and what is known about which views are clean."""

    def __init__(self, prog: Program, layout: Layout, rng: random.Random, path_index: int, budget: _Budget,
                 pinned: int = 0):
        self.prog, self.L = prog, layout
        self.pinned = pinned  # units [0, pinned) are the start state: never deleted
        self.pin_broken = False  # the walk had to delete one: redo the program unpinned
        self.siblings: list[_Walk] = []  # the other walks of the same program
        self.rng = rng
        self.path_index = path_index
        self.budget = budget
        n = len(prog)
        self.n_chunks = len(layout.chunk_start)
        self.alive = bytearray(b"\x01") * n
        self.n_alive = n
        weights = [0 if i < pinned else prog.weight(i) for i in range(n)]
        self.weights = _Fenwick(weights)
        self.total_weight = sum(weights)
        self.region_alive = [prog.block_end[d] - d - 1 for d in layout.region_def]
        self.chunk_alive = [0] * self.n_chunks
        for u in range(n):
            if layout.region[u] < 0:
                self.chunk_alive[layout.chunk[u]] += 1
        self.chunk_has_future = [False] * self.n_chunks
        self.binder_count: Counter = Counter()  # (name, chunk) -> alive units binding it there
        self.bound_total: Counter = Counter()  # name -> alive module-level bindings
        self.features: Counter = Counter()
        for u in range(n):
            for name in layout.binds[u]:
                if name not in layout.exotic:
                    self.binder_count[name, layout.chunk[u]] += 1
                    self.bound_total[name] += 1
            for feature in layout.future[u]:
                self.features[feature] += 1
                self.chunk_has_future[layout.chunk[u]] = True
        self.binder_chunks: dict[str, list[int]] = {}
        for name, c in sorted(self.binder_count):
            self.binder_chunks.setdefault(name, []).append(c)
        self.parse_dirty: set[int] = set()
        self.lint_dirty: set[int] = set()
        self.unbound: dict[int, set[str]] = {}  # view -> names deleted units bound, since its last lint
        self.mentions: Counter = Counter()  # (view, identifier) -> alive units of the view with it
        for u in range(n):
            v = self._view_of(u)
            for name in layout.unit_ids[u]:
                self.mentions[v, name] += 1
        self.steps: list[list[int]] = []  # per recorded state, the units deleted to reach it
        self.deleted: list[int] = []
        self.clean = True
        self.done = False

    # -- deletion and bookkeeping --------------------------------------------------------

    def _touch(self, view: int, parse: bool = False, lint: bool = False) -> None:
        if parse:
            self.parse_dirty.add(view)
        if lint:
            self.lint_dirty.add(view)

    def _view_of(self, u: int) -> int:
        r = self.L.region[u]
        return self.n_chunks + r if r >= 0 else self.L.chunk[u]

    def _delete(self, unit: int) -> None:
        """Delete a unit with the block it heads."""
        if unit < self.pinned:
            self.pin_broken = self.done = True
            return
        for j in range(unit, self.prog.block_end[unit]):
            if self.alive[j]:
                self._kill(j)

    def _kill(self, j: int) -> None:
        L = self.L
        self.alive[j] = 0
        self.n_alive -= 1
        w = self.prog.weight(j)
        self.weights.add(j, -w)
        self.total_weight -= w
        self.deleted.append(j)
        r = L.region[j]
        if r >= 0:
            view = self.n_chunks + r
            self.region_alive[r] -= 1
            if not self.region_alive[r]:
                self._touch(L.chunk[j], parse=True)  # its header loses the `pass` stub
        else:
            view = L.chunk[j]
            self.chunk_alive[view] -= 1
        self._touch(view, parse=True, lint=L.always[j])
        for name in L.unit_ids[j]:
            self.mentions[view, name] -= 1
        if L.local[j]:
            self.unbound.setdefault(view, set()).update(L.local[j])
        for name in L.binds[j]:
            if name not in L.exotic:
                self._unbind(name, L.chunk[j])
        for name in L.touches[j]:  # order matters for these: every view that mentions one
            for c in L.chunks_using.get(name, ()):
                self._touch(c, lint=True)
            for r in L.regions_using.get(name, ()):
                self._touch(self.n_chunks + r, lint=True)
        if L.future[j]:
            before = self._future_header()
            for feature in L.future[j]:
                self.features[feature] -= 1
            if self._future_header() != before:
                for v in range(self.n_chunks + len(L.region_def)):
                    self._touch(v, lint=True)

    def _unbind(self, name: str, c: int) -> None:
        """A module-level binding of `name` in chunk `c` is gone: who can tell?"""
        L = self.L
        self.bound_total[name] -= 1
        if not self.bound_total[name]:  # function bodies see the module's final bindings
            for r in L.regions_using.get(name, ()):
                self._touch(self.n_chunks + r, lint=True)
        self.binder_count[name, c] -= 1
        if self.binder_count[name, c]:
            return
        chunks = self.binder_chunks[name]
        i = bisect.bisect_left(chunks, c)
        del chunks[i]
        users = L.chunks_using.get(name, ())
        if i == 0:  # was the first binding: chunks up to the next one no longer see it before them
            hi = chunks[0] if chunks else self.n_chunks
            for x in users[bisect.bisect_right(users, c):bisect.bisect_right(users, hi)]:
                self._touch(x, lint=True)
        if i == len(chunks):  # was the last: chunks from the previous one no longer see it after them
            lo = chunks[-1] if chunks else -1
            for x in users[bisect.bisect_left(users, lo):bisect.bisect_left(users, c)]:
                self._touch(x, lint=True)

    def _delete_seed(self) -> None:
        self._delete(self.weights.find(self.rng.randrange(self.total_weight)))

    def _record(self) -> None:
        self.steps.append(self.deleted)
        self.deleted = []
        self.clean = True

    # -- views ---------------------------------------------------------------------------

    def _future_header(self) -> str:
        on = sorted(f for f, k in self.features.items() if k > 0)
        return f"from __future__ import {', '.join(on)}\n" if on else ""

    def _view_alive(self, v: int) -> bool:
        if v < self.n_chunks:
            return self.chunk_alive[v] > 0
        return bool(self.alive[self.L.region_def[v - self.n_chunks]])

    def _owned(self, v: int, u: int) -> bool:
        return self.L.region[u] < 0 if v < self.n_chunks else self.L.region[u] == v - self.n_chunks

    def _text(self, v: int, context: bool) -> tuple[str, list[int]]:
        """The view's text and, per line, the unit it comes from (-1: context or stub). Without
        `context` it is the code alone (enough for the parser); with it, what the view sees of
        the rest of the module is written around it."""
        L, prog, alive = self.L, self.prog, self.alive
        units, lines_of = prog.units, prog.lines
        lines: list[str] = []
        rowmap: list[int] = []

        def emit(u: int, own: bool = True) -> None:
            seg = lines_of[units[u].start:units[u].end]
            if lines and not lines[-1].endswith("\n"):
                lines[-1] += "\n"
            lines.extend(seg)
            rowmap.extend([u if own else -1] * len(seg))

        def extra(line: str) -> None:
            if lines and not lines[-1].endswith("\n"):
                lines[-1] += "\n"
            lines.append(line)
            rowmap.append(-1)

        def names(bound: list[str]) -> None:
            if "*" in bound:
                extra("from _ import *\n")
                bound = [x for x in bound if x != "*"]
            if bound:
                extra(" = ".join(bound) + " = None\n")

        def chunk_code(c: int, own: bool) -> None:
            u, end = L.chunk_start[c], L.chunk_end(c, len(units))
            while u < end:
                if alive[u]:
                    emit(u, own)
                r = L.region_of_def.get(u)
                if r is None:
                    u += 1
                    continue
                if alive[u] and self.region_alive[r]:
                    extra(L.stub_indent[r] + "pass\n")
                u = prog.block_end[u]

        header = self._future_header() if context else ""
        if v < self.n_chunks:
            c = v
            before, after = [], []
            if context and L.regular:
                for name in L.chunk_ids[c]:
                    chunks = self.binder_chunks.get(name)
                    if chunks:
                        if chunks[0] < c:
                            before.append(name)
                        if chunks[-1] > c:
                            after.append(name)
            if header and not self.chunk_has_future[c]:
                extra(header)
            copies = L.chunk_copies[c] if context else ()
            for k in copies:
                if k < c:
                    chunk_code(k, False)
            names(before)
            chunk_code(c, True)
            names(after)
            for k in copies:
                if k > c:
                    chunk_code(k, False)
        else:
            r = v - self.n_chunks
            d = L.region_def[r]
            if context:
                if header:
                    extra(header)
                for k in L.region_copies[r]:
                    chunk_code(k, False)
                names([x for x in L.region_ids[r] if self.bound_total[x] > 0])
            for a in L.region_chain[r]:
                emit(a)
            for a in L.region_decorators[r]:
                if alive[a]:
                    emit(a)
            emit(d)
            for u in range(d + 1, prog.block_end[d]):
                if alive[u]:
                    emit(u)
        return "".join(lines), rowmap

    def _error_unit(self, err: SyntaxError, rowmap: list[int]) -> int:
        row = err.lineno
        msg = err.msg or ""
        if msg.startswith("expected an indented block"):  # reported below the header
            m = _INDENTED_AFTER.search(msg)
            row = int(m.group(1)) if m else row
        if row is not None and 1 <= row <= len(rowmap) and rowmap[row - 1] >= 0:
            return rowmap[row - 1]
        return next(u for u in reversed(rowmap) if u >= 0)  # an error at the end of the text

    def _settle_syntax(self) -> None:
        """Delete what the parser rejects until every changed view parses."""
        while self.parse_dirty and not self.budget.exceeded and not self.pin_broken:
            v = min(self.parse_dirty)
            self.parse_dirty.discard(v)
            if not self._view_alive(v):
                continue
            text, rowmap = self._text(v, context=False)
            self.budget.spend(len(rowmap))
            err = syntax_error(text)
            if err is not None:
                self._delete(self._error_unit(err, rowmap))

    def _lint_texts(self) -> list[tuple[int, str, list[int]]]:
        for v, names in self.unbound.items():  # a binding gone that the view still mentions
            if any(self.mentions[v, name] > 0 for name in names):
                self.lint_dirty.add(v)
        self.unbound.clear()
        todo = []
        for v in sorted(self.lint_dirty):
            if self._view_alive(v):
                text, rowmap = self._text(v, context=True)
                self.budget.spend(len(rowmap))
                todo.append((v, text, rowmap))
        self.lint_dirty.clear()
        return todo

    # -- the walk ------------------------------------------------------------------------

    def advance(self) -> list[tuple[int, str, list[int]]]:
        """Walk on until the linter is needed (returns the texts to lint) or the walk is over."""
        while not self.done:
            if self.budget.exceeded or self.budget.timed_out or self.pin_broken:
                self.done = True
                break
            if self.clean:
                if self.n_alive == self.pinned:
                    self.done = True
                    break
                self._delete_seed()
                self.clean = False
            self._settle_syntax()
            if self.budget.exceeded or self.pin_broken:
                continue
            todo = self._lint_texts()
            if todo:
                return todo
            self._record()  # nothing the linter could object to
        return []

    def apply_findings(self, todo: list[tuple[int, str, list[int]]], results: list[tuple[Finding, ...]]) -> None:
        doomed, flagged = set(), set()
        for (v, _, rowmap), findings in zip(todo, results, strict=True):
            for f in findings:
                if 1 <= f.row <= len(rowmap):
                    u = rowmap[f.row - 1]
                    if u >= 0 and self._owned(v, u):
                        doomed.add(u)
                        flagged.add(v)
                else:  # past the end (a syntax error only ruff sees): the last unit of the view
                    last = next((u for u in reversed(rowmap) if u >= 0 and self._owned(v, u)), None)
                    if last is not None:
                        doomed.add(last)
                        flagged.add(v)
        for u in sorted(doomed):
            self._delete(u)
        if self.pin_broken:
            return
        for v in flagged:  # ruff reports some findings once (F823: the first use), so look again
            self._touch(v, lint=True)


def _run_walks(walks: list[_Walk], ruff: Ruff, per_check: bool, backstop_seconds: float = 0) -> int:
    """Advance every walk to its end; returns the number of linter rounds."""
    deadline = time.monotonic() + backstop_seconds if backstop_seconds else None
    active = list(walks)
    rounds = 0
    while active:
        if deadline is not None and time.monotonic() > deadline:
            for w in active:
                w.budget.timed_out = True
            break
        pending = []
        for w in active:
            todo = w.advance()
            if todo:
                pending.append((w, todo))
        texts = [t for _, todo in pending for _, t, _ in todo]
        rounds += bool(texts)
        results = [ruff.check_one(t) for t in texts] if per_check else ruff.check_many(texts)
        k = 0
        for w, todo in pending:
            w.apply_findings(todo, results[k:k + len(todo)])
            k += len(todo)
        for w in active:  # one walk of a program had to delete a prompt line: its others stop
            if w.pin_broken:
                for sibling in w.siblings:
                    sibling.done = True
        active = [w for w in active if not w.done]
    return rounds


def hunks(prog: Program, old: frozenset, new: frozenset) -> str:
    """The insertion-only unified diff from state `old` to its superset `new`."""
    old_rows = set(prog.rows(old))
    new_rows = prog.rows(new)
    out: list[str] = []
    old_pos = new_pos = i = 0
    while i < len(new_rows):
        if new_rows[i] in old_rows:
            old_pos, new_pos, i = old_pos + 1, new_pos + 1, i + 1
            continue
        run = []
        while i < len(new_rows) and new_rows[i] not in old_rows:
            run.append(new_rows[i])
            i += 1
        out.append(f"@@ -{old_pos},0 +{new_pos + 1},{len(run)} @@\n")
        for r in run:
            out.append(_plus(prog.lines[r]))
        new_pos += len(run)
    return "".join(out)


def _plus(line: str) -> str:
    return "+" + line if line.endswith("\n") else "+" + line + "\n" + NO_NEWLINE


def _forward_hunks(prog: Program, inserts: list[list[int]], pinned: int = 0) -> list[str]:
    """The hunks of each forward edit, given the units each one inserts (what `hunks` computes
    from whole states, in O(inserted lines x log lines) per edit), from the state of the first
    `pinned` units."""
    start_rows = prog.units[pinned - 1].end if pinned else 0
    present = _Fenwick([1] * start_rows + [0] * (len(prog.lines) - start_rows))
    edits = []
    for units in inserts:
        rows = sorted(r for u in units for r in range(prog.units[u].start, prog.units[u].end))
        out: list[str] = []
        inserted = i = 0
        while i < len(rows):
            before = present.prefix(rows[i])  # old lines above the run
            j = i + 1
            while j < len(rows) and present.prefix(rows[j]) == before:
                j += 1
            out.append(f"@@ -{before},0 +{before + inserted + 1},{j - i} @@\n")
            out.extend(_plus(prog.lines[r]) for r in rows[i:j])
            inserted += j - i
            i = j
        for r in rows:
            present.add(r, 1)
        edits.append("".join(out))
    return edits


def apply_edits(edits: list[str], start: str = "") -> str:
    """Replay insertion-only hunks (as `hunks` writes them) onto `start`."""
    lines = _split_lines(start)
    for edit in edits:
        lines = _apply_one(lines, edit)
    return "".join(lines)


def _apply_one(lines: list[str], edit: str) -> list[str]:
    body = _split_lines(edit)
    k = 0
    while k < len(body):
        m = HUNK_RE.match(body[k].rstrip("\n"))
        if not m or m.group(2) != "0":
            raise ValueError(f"not an insertion hunk header: {body[k]!r}")
        at, count = int(m.group(3)) - 1, int(m.group(4))
        k += 1
        new = []
        while len(new) < count:
            line = body[k]
            if not line.startswith("+"):
                raise ValueError(f"expected a '+' line, got {line!r}")
            k += 1
            if k < len(body) and body[k] == NO_NEWLINE:
                line = line[:-1]
                k += 1
            new.append(line[1:])
        lines[at:at] = new
    return lines


def _split_lines(text: str) -> list[str]:
    """Lines split on '\\n' only (a program's '\\r' or form feeds stay inside their line)."""
    parts = text.split("\n")
    lines = [p + "\n" for p in parts[:-1]]
    if parts[-1]:
        lines.append(parts[-1])
    return lines


def check_program(prog: Program, findings: tuple[Finding, ...]) -> None:
    if findings:
        raise ProgramRejected("lint_errors", "; ".join(str(f) for f in findings[:20]))


def count_lines(text: str) -> int:
    return text.count("\n") + (0 if text.endswith("\n") or not text else 1)


def parse_program(text: str, max_lines: int = 0, prefix: str = "") -> Program:
    if max_lines and count_lines(text) > max_lines:
        raise ProgramRejected("too_large", f"{count_lines(text)} lines, over the cap of {max_lines} "
                                           "(max_program_lines)")
    if not text.strip():
        raise ProgramRejected("empty_program", "nothing but whitespace")
    err = syntax_error(text)
    if err is not None:
        raise ProgramRejected("syntax_error", f"line {err.lineno}: {err.msg}")
    boundary = prefix.count("\n") if prefix.endswith("\n") and text.startswith(prefix) else 0
    prog = Program(text, boundary)
    if not prog.units:
        raise ProgramRejected("empty_program", "no code, only comments")
    return prog


@dataclass
class _Prepared:
    job: Job
    prog: Program | None = None
    error: ProgramRejected | None = None
    walks: list[_Walk] = field(default_factory=list)
    budget: _Budget | None = None
    pinned: int = 0  # units of the prefix kept as the start state (0: from the empty program)
    paths: list[EditPath] = field(default_factory=list)  # the distinct ones, in walk order
    seen: set = field(default_factory=set)
    tried: int = 0  # walks run so far


def _prefix_units(prog: Program, prefix: str) -> int:
    """How many leading units make up exactly `prefix` (0: it does not end on a unit boundary,
    or the program does not continue it)."""
    if not prefix.strip() or not prog.source.startswith(prefix) or not prefix.endswith("\n"):
        return 0
    rows = prefix.count("\n")
    k = bisect.bisect_right([u.end for u in prog.units], rows)
    if k == 0 or k == len(prog.units) or prog.units[k - 1].end != rows:
        return 0  # the prompt is the whole program, or ends inside a unit (its comments, say)
    return k


def lintseq_batch(jobs: list[Job], ruff: Ruff, *, per_check: bool = False, backstop_seconds: float = 0,
                  whole_program: bool = False, stats: Counter | None = None) -> list[list[EditPath] | ProgramRejected]:
    """Edit paths for every job (or why its program was rejected), all walks in lockstep.

    `whole_program=True` lints every state whole (one view), the plain algorithm, for comparison;
    `stats`, if given, is added the work done (`checked_lines`, `lint_rounds`)."""
    prepared = []
    for job in jobs:
        try:
            prepared.append(_Prepared(job, parse_program(job.program, job.max_lines, job.prefix)))
        except ProgramRejected as e:
            prepared.append(_Prepared(job, error=e))
    valid = [p for p in prepared if p.prog is not None]
    texts = [p.job.program for p in valid]
    results = [ruff.check_one(t) for t in texts] if per_check else ruff.check_many(texts)
    for p, findings in zip(valid, results, strict=True):
        try:
            check_program(p.prog, findings)
        except ProgramRejected as e:
            p.error, p.prog = e, None
    _pin_prefixes([p for p in prepared if p.prog is not None], ruff, per_check)

    def start_walks(batch: list[_Prepared]) -> list[_Walk]:
        walks = []
        for p in batch:
            layout = p.prog.whole_layout if whole_program else p.prog.layout
            p.walks = [_Walk(p.prog, layout, path_rng(p.job.seed, p.job.source_id, k), k, p.budget, p.pinned)
                       for k in range(p.job.paths)]
            for w in p.walks:
                w.siblings = p.walks
            walks.extend(p.walks)
        return walks

    for p in prepared:
        if p.prog is not None:
            p.budget = _Budget(p.job.budget)
    rounds = _run_walks(start_walks([p for p in prepared if p.prog is not None]), ruff, per_check,
                        backstop_seconds)
    redo = [p for p in prepared if p.prog is not None and any(w.pin_broken for w in p.walks)]
    for p in redo:  # a walk had to delete a prompt line: the whole program from the empty one,
        p.pinned = 0  # with a budget of its own (what the pinned walks spent is not its cost)
        p.budget = _Budget(p.job.budget)
    if redo:
        rounds += _run_walks(start_walks(redo), ruff, per_check, backstop_seconds)
    ok = [p for p in prepared if p.prog is not None and not p.budget.exceeded and not p.budget.timed_out]
    for p in ok:
        p.tried = p.job.paths
        try:
            for w in p.walks:
                _keep_distinct(p, _edit_path(p.prog, w, p.job.max_edits, p.pinned))
        except ProgramRejected as e:
            p.error = e
    rounds += _more_distinct([p for p in ok if p.error is None], ruff, per_check, backstop_seconds,
                             whole_program, stats)
    if stats is not None:
        stats["lint_rounds"] += rounds
        stats["checked_lines"] += sum(p.budget.spent for p in prepared if p.budget is not None)
    out: list[list[EditPath] | ProgramRejected] = []
    for p in prepared:
        if p.error is not None:
            out.append(p.error)
        elif p.budget.exceeded:
            out.append(ProgramRejected(
                "budget_exceeded", f"{p.job.paths} paths of a {len(p.prog.lines)}-line program need more than "
                                   f"{p.job.budget} checked lines (max_checked_lines)"))
        elif p.budget.timed_out:
            out.append(ProgramRejected(
                "timeout", f"the batch ran past the {backstop_seconds:g} s wall-clock backstop (backstop_seconds)"))
        else:
            out.append(p.paths)
    return out


def _keep_distinct(p: _Prepared, path: EditPath) -> None:
    key = tuple(path.edits)
    if key not in p.seen:
        p.seen.add(key)
        p.paths.append(path)


def _more_distinct(batch: list[_Prepared], ruff: Ruff, per_check: bool, backstop_seconds: float,
                   whole_program: bool, stats: Counter | None) -> int:
    """Walk again (path indices `paths`, `paths`+1, ...) for the programs with fewer distinct
    paths than asked, until they have them or `max_tries` walks are spent. These walks get a
    budget of their own: when it runs out, the program keeps the distinct paths it has."""
    rounds = 0
    while True:
        todo = [p for p in batch if len(p.paths) < p.job.paths and p.tried < p.job.max_tries]
        if not todo:
            return rounds
        walks, extra = [], {}
        for p in todo:
            need = min(p.job.paths - len(p.paths), p.job.max_tries - p.tried)
            budget = _Budget(p.job.budget)
            layout = p.prog.whole_layout if whole_program else p.prog.layout
            extra[id(p)] = (budget, [_Walk(p.prog, layout, path_rng(p.job.seed, p.job.source_id, k), k, budget,
                                           p.pinned) for k in range(p.tried, p.tried + need)])
            for w in extra[id(p)][1]:
                w.siblings = [w]  # a walk that breaks the pin is dropped alone
            p.tried += need
            walks.extend(extra[id(p)][1])
        rounds += _run_walks(walks, ruff, per_check, backstop_seconds)
        for p in todo:
            budget, new = extra[id(p)]
            if stats is not None:
                stats["checked_lines"] += budget.spent
            if budget.exceeded or budget.timed_out:
                p.tried = p.job.max_tries  # out of budget: stop looking
                continue
            for w in new:
                if w.pin_broken:
                    continue
                try:
                    _keep_distinct(p, _edit_path(p.prog, w, p.job.max_edits, p.pinned))
                except ProgramRejected:
                    continue


def _pin_prefixes(batch: list[_Prepared], ruff: Ruff, per_check: bool) -> None:
    """Set `pinned` for the programs whose prefix is a clean start state (one linter call)."""
    todo = []
    for p in batch:
        k = _prefix_units(p.prog, p.job.prefix)
        if k and syntax_error(p.job.prefix) is None:
            todo.append((p, k))
    texts = [p.job.prefix for p, _ in todo]
    results = [ruff.check_one(t) for t in texts] if per_check else ruff.check_many(texts)
    for (p, k), findings in zip(todo, results, strict=True):
        if not findings:
            p.pinned = k


def _edit_path(prog: Program, walk: _Walk, max_edits: int, pinned: int = 0) -> EditPath:
    inserts = list(reversed(walk.steps))  # forward: the last units deleted come first
    if max_edits and len(inserts) > max_edits:
        inserts = inserts[:max_edits - 1] + [[u for step in inserts[max_edits - 1:] for u in step]]
    edits = _forward_hunks(prog, inserts, pinned)
    start = "".join(prog.lines[:prog.units[pinned - 1].end]) if pinned else ""
    if apply_edits(edits, start) != prog.source:  # never emit a sequence that does not replay exactly
        raise ProgramRejected("replay_mismatch", "the edits do not rebuild the program")
    return EditPath(walk.path_index, edits, start)


def sample_edit_paths(program: str, n: int = 5, seed: int = 0, *, source_id: str = "", max_edits: int = 0,
                      max_lines: int = MAX_PROGRAM_LINES, budget: int = MAX_CHECKED_LINES,
                      prefix: str = "", ruff: Ruff | None = None) -> list[EditPath]:
    """The edit paths of one program (plain-Python entry point; raises ProgramRejected)."""
    own = ruff is None
    ruff = ruff or Ruff()
    try:
        (result,) = lintseq_batch([Job(program, source_id, n, seed, max_edits, max_lines, budget, prefix)], ruff)
    finally:
        if own:
            ruff.close()
    if isinstance(result, ProgramRejected):
        raise result
    return result


def training_completion(edits: list[str], diff_token: str = DIFF_TOKEN) -> str:
    """What a model learns to write after the prompt: each edit after the diff token."""
    return "".join(f"{diff_token}\n{edit}" for edit in edits)


def completion_edits(completion: str, diff_token: str = DIFF_TOKEN) -> list[str]:
    """The edits in a completion (a row's, or a model's output): the inverse of
    `training_completion`; replay them with `apply_edits(edits, start)`."""
    return completion.split(f"{diff_token}\n")[1:]


def training_text(prompt: str, edits: list[str], diff_token: str = DIFF_TOKEN) -> str:
    """The paper's training format: the instruction, then each edit after the diff token."""
    head = prompt if not prompt or prompt.endswith("\n") else prompt + "\n"
    return head + training_completion(edits, diff_token)
