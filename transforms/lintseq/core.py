"""LintSeq (Piterbarg, Pinto, Fergus: "Training Language Models on Synthetic Edit Sequences
Improves Code Synthesis"): a program is taken apart by linter-guided random deletions, then
replayed as insertion-only diffs, each intermediate program lint-clean.

Backward walk, per path: sample a seed unit (a logical line; weight 1 at top level, its nesting
depth below), delete it with the block it heads; then lint and delete every unit the linter
flags, until the program is clean again; record it; repeat until nothing is left. Reversed, the
recorded states give the edits: unified-diff hunks with no context and no file headers.

Lockstep batching: all walks of a batch advance together and each round's pending states are
linted in ONE ruff process (`Ruff.check_many`); `per_check=True` is the one-process-per-check
baseline. Syntax is CPython's parser, in process.
"""

from __future__ import annotations

import hashlib
import random
import re
from dataclasses import dataclass, field

from transforms.lintseq.linter import Finding, Ruff, syntax_error
from transforms.lintseq.program import Program

DIFF_TOKEN = "<|diff|>"
NO_NEWLINE = "\\ No newline at end of file\n"
HUNK_RE = re.compile(r"^@@ -(\d+),(\d+) \+(\d+),(\d+) @@$")
_INDENTED_AFTER = re.compile(r"on line (\d+)")


class ProgramRejected(Exception):
    def __init__(self, reason: str, detail: str):
        super().__init__(f"{reason}: {detail}")
        self.reason, self.detail = reason, detail


@dataclass
class EditPath:
    path_index: int
    edits: list[str]
    states: list[str]  # the forward states, empty program first, the program last


@dataclass
class Job:
    """One program to take apart `paths` times."""

    program: str
    source_id: str
    paths: int = 5
    seed: int = 0
    max_edits: int = 0  # 0: no cap; otherwise the tail of a longer path becomes one final jump


def path_rng(seed: int, source_id: str, path_index: int) -> random.Random:
    """The walk's randomness depends only on (seed, program id, path), never on batching."""
    digest = hashlib.sha256(f"{seed}\0{source_id}\0{path_index}".encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


class _Walk:
    def __init__(self, prog: Program, rng: random.Random, path_index: int):
        self.prog = prog
        self.rng = rng
        self.path_index = path_index
        self.alive = set(range(len(prog)))
        self.states = [frozenset(self.alive)]
        self.needs_lint = False
        self.done = False

    def _delete(self, unit: int) -> None:
        for j in range(unit, self.prog.block_end[unit]):
            self.alive.discard(j)

    def delete_seed(self) -> None:
        candidates = sorted(self.alive)
        weights = [self.prog.weight(i) for i in candidates]
        r = self.rng.randrange(sum(weights))
        for unit, w in zip(candidates, weights, strict=True):
            if r < w:
                self._delete(unit)
                return
            r -= w

    def _unit_at(self, row: int | None, rows: list[int]) -> int:
        if row is None or row > len(rows) or row < 1:
            return max(self.alive)  # an error at the end of the file
        return self.prog.line_unit[rows[row - 1]]

    def fix_syntax(self) -> str:
        """Delete what the parser rejects until the state parses; returns its text."""
        while True:
            text = self.prog.text(self.alive)
            err = syntax_error(text) if self.alive else None
            if err is None:
                return text
            row = err.lineno
            msg = err.msg or ""
            if msg.startswith("expected an indented block"):  # reported below the header
                m = _INDENTED_AFTER.search(msg)
                row = int(m.group(1)) if m else row
            self._delete(self._unit_at(row, self.prog.rows(self.alive)))

    def apply_findings(self, findings: tuple[Finding, ...]) -> None:
        rows = self.prog.rows(self.alive)
        for unit in {self._unit_at(f.row, rows) for f in findings}:
            self._delete(unit)

    def record(self) -> None:
        self.states.append(frozenset(self.alive))
        self.needs_lint = False
        if not self.alive:
            self.done = True


def _run_walks(walks: list[_Walk], ruff: Ruff, per_check: bool) -> None:
    active = list(walks)
    while active:
        pending: list[tuple[_Walk, str]] = []
        for w in active:
            if not w.needs_lint:
                w.delete_seed()
                w.needs_lint = True
            text = w.fix_syntax()
            if not w.alive:
                w.record()
            else:
                pending.append((w, text))
        texts = [t for _, t in pending]
        results = [ruff.check_one(t) for t in texts] if per_check else ruff.check_many(texts)
        for (w, _), findings in zip(pending, results, strict=True):
            if findings:
                w.apply_findings(findings)
            else:
                w.record()
        active = [w for w in active if not w.done]


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
            line = prog.lines[r]
            out.append("+" + line if line.endswith("\n") else "+" + line + "\n" + NO_NEWLINE)
        new_pos += len(run)
    return "".join(out)


def apply_edits(edits: list[str], start: str = "") -> str:
    """Replay insertion-only hunks (as `hunks` writes them) onto `start`."""
    lines = _split_lines(start)
    for edit in edits:
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
    return "".join(lines)


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


def parse_program(text: str) -> Program:
    if not text.strip():
        raise ProgramRejected("empty_program", "nothing but whitespace")
    err = syntax_error(text)
    if err is not None:
        raise ProgramRejected("syntax_error", f"line {err.lineno}: {err.msg}")
    prog = Program(text)
    if not prog.units:
        raise ProgramRejected("empty_program", "no code, only comments")
    return prog


@dataclass
class _Prepared:
    job: Job
    prog: Program | None = None
    error: ProgramRejected | None = None
    walks: list[_Walk] = field(default_factory=list)


def lintseq_batch(jobs: list[Job], ruff: Ruff, *, per_check: bool = False) -> list[list[EditPath] | ProgramRejected]:
    """Edit paths for every job (or why its program was rejected), all walks in lockstep."""
    prepared = []
    for job in jobs:
        try:
            prepared.append(_Prepared(job, parse_program(job.program)))
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
    walks = []
    for p in prepared:
        if p.prog is not None:
            p.walks = [_Walk(p.prog, path_rng(p.job.seed, p.job.source_id, k), k) for k in range(p.job.paths)]
            walks.extend(p.walks)
    _run_walks(walks, ruff, per_check)
    out: list[list[EditPath] | ProgramRejected] = []
    for p in prepared:
        if p.error is not None:
            out.append(p.error)
            continue
        try:
            out.append([_edit_path(p.prog, w, p.job.max_edits) for w in p.walks])
        except ProgramRejected as e:
            out.append(e)
    return out


def _edit_path(prog: Program, walk: _Walk, max_edits: int) -> EditPath:
    forward = list(reversed(walk.states))  # empty ... full
    if max_edits and len(forward) - 1 > max_edits:
        forward = forward[:max_edits] + [forward[-1]]
    edits = [hunks(prog, a, b) for a, b in zip(forward, forward[1:], strict=False)]
    states = [prog.text(s) for s in forward]
    if apply_edits(edits) != prog.source:  # never emit a sequence that does not replay exactly
        raise ProgramRejected("replay_mismatch", "the edits do not rebuild the program")
    return EditPath(walk.path_index, edits, states)


def sample_edit_paths(program: str, n: int = 5, seed: int = 0, *, source_id: str = "",
                      max_edits: int = 0, ruff: Ruff | None = None) -> list[EditPath]:
    """The edit paths of one program (plain-Python entry point; raises ProgramRejected)."""
    own = ruff is None
    ruff = ruff or Ruff()
    try:
        (result,) = lintseq_batch([Job(program, source_id, n, seed, max_edits)], ruff)
    finally:
        if own:
            ruff.close()
    if isinstance(result, ProgramRejected):
        raise result
    return result


def training_text(prompt: str, edits: list[str], diff_token: str = DIFF_TOKEN) -> str:
    """The paper's training format: the instruction, then each edit after the diff token."""
    head = prompt if not prompt or prompt.endswith("\n") else prompt + "\n"
    return head + "".join(f"{diff_token}\n{edit}" for edit in edits)
