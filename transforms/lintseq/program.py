"""A program as units of deletion: logical lines, the blocks they head, their nesting depth.

LintSeq deletes whole logical lines (a statement spanning several physical lines goes at once);
comment and blank lines travel with the code line below them (at the end of the file, with the
one above), so every state is a subsequence of the program's lines and every forward edit is a
pure insertion.
"""

from __future__ import annotations

import io
import tokenize
from dataclasses import dataclass
from functools import cached_property

from codekiln.transforms.lintseq.layout import Layout, build_layout

SKIP = {tokenize.NL, tokenize.COMMENT, tokenize.INDENT, tokenize.DEDENT, tokenize.ENCODING,
        tokenize.ENDMARKER}


@dataclass(frozen=True)
class Unit:
    start: int  # first physical line (0-based), attached comments/blank lines included
    end: int  # one past the last physical line
    code: int  # first physical line of the code itself
    indent: int
    header: bool  # a compound statement header (`def f():`, `if x:`, ...)
    decorator: bool


class Program:
    """Lines, units, and for each unit its depth and the units it takes along when deleted."""

    def __init__(self, source: str, boundary: int = 0):
        """`boundary`: a row no unit may straddle (the end of a prompt the program continues):
        comment and blank lines just above it stay with the unit above, not the one below."""
        self.source = source
        parts = source.split("\n")  # '\n' only: the tokenizer's rows, and the hunks' lines
        self.lines = [x + "\n" for x in parts[:-1]] + ([parts[-1]] if parts[-1] else [])
        self.units = _units(self.lines, boundary)
        self.line_unit = [0] * len(self.lines)
        for i, u in enumerate(self.units):
            for row in range(u.start, u.end):
                self.line_unit[row] = i
        self.depth, self.parent = _depths(self.units)
        self.block_end = _block_ends(self.units)

    def __len__(self) -> int:
        return len(self.units)

    def weight(self, i: int) -> int:
        """Seed weight: 1 at top level, the nesting depth below it (deeper lines go first)."""
        return max(1, self.depth[i])

    def text(self, alive) -> str:
        return "".join("".join(self.lines[self.units[i].start:self.units[i].end]) for i in sorted(alive))

    def rows(self, alive) -> list[int]:
        """Physical line indices of a state, in order."""
        return [r for i in sorted(alive) for r in range(self.units[i].start, self.units[i].end)]

    @cached_property
    def layout(self) -> Layout:
        """The views the program is linted in (layout.py); needs a program that parses."""
        return build_layout(self)

    @cached_property
    def whole_layout(self) -> Layout:
        """One view, the whole program (the plain algorithm)."""
        return build_layout(self, whole=True)


def _units(lines: list[str], boundary: int = 0) -> list[Unit]:
    source = "".join(lines)
    logical: list[tuple[int, int, bool, bool]] = []  # (first row, last row, header, decorator) 0-based
    start = last = first = None
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.NEWLINE:
            if start is not None:
                logical.append((start, tok.start[0] - 1, last == ":", first == "@"))
            start = last = first = None
            continue
        if tok.type in SKIP:
            continue
        if start is None:
            start, first = tok.start[0] - 1, tok.string
        last = tok.string
    units: list[Unit] = []
    pending = 0  # rows not yet given to a unit: comments and blank lines above the next code
    for first_row, last_row, header, decorator in logical:
        line = lines[first_row]
        indent = len(line.expandtabs(8)) - len(line.expandtabs(8).lstrip(" \t\f"))
        if units and pending < boundary <= first_row:  # the rows above the boundary stay above it
            u = units[-1]
            units[-1] = Unit(u.start, boundary, u.code, u.indent, u.header, u.decorator)
            pending = boundary
        units.append(Unit(pending, last_row + 1, first_row, indent, header, decorator))
        pending = last_row + 1
    if units and pending < len(lines):  # trailing comments/blank lines go with the last unit
        u = units[-1]
        units[-1] = Unit(u.start, len(lines), u.code, u.indent, u.header, u.decorator)
    return units


def _depths(units: list[Unit]) -> tuple[list[int], list[int]]:
    """Each unit's nesting depth and the header unit it is nested in (-1 at top level)."""
    depths, parents, stack = [], [], []  # stack: (indent, unit) of the open headers
    for i, u in enumerate(units):
        while stack and stack[-1][0] >= u.indent:
            stack.pop()
        depths.append(len(stack))
        parents.append(stack[-1][1] if stack else -1)
        if u.header:
            stack.append((u.indent, i))
    return depths, parents


def _block_ends(units: list[Unit]) -> list[int]:
    """For each unit, one past the last unit deleted with it (its block; a decorator's function)."""
    n = len(units)
    ends = list(range(1, n + 1))
    for i, u in enumerate(units):
        if u.header:
            j = i + 1
            while j < n and units[j].indent > u.indent:
                j += 1
            ends[i] = j
    for i in range(n - 1, -1, -1):  # decorators take the decorated definition along
        u = units[i]
        if u.decorator and i + 1 < n and units[i + 1].indent == u.indent:
            ends[i] = max(ends[i], ends[i + 1])
    return ends
