"""LintSeq's parameters (importable without Beam: configs and cards read them)."""

from __future__ import annotations

from dataclasses import dataclass

from codekiln.transforms.lintseq.core import DIFF_TOKEN, MAX_CHECKED_LINES, MAX_PROGRAM_LINES

UNITS = ("program", "function")


@dataclass(frozen=True)
class LintSeqParams:
    paths_per_program: int = 5  # the reference's default: distinct paths, when the program has them
    # walks at most per program to find them (0: 4 x paths_per_program); a small program may
    # have fewer distinct paths: its rows say how many (`distinct_paths`)
    path_tries: int = 0
    seed: int = 0
    max_edits: int = 0  # 0: no cap; else a longer path's tail becomes one final edit
    diff_token: str = DIFF_TOKEN
    unit: str = "program"  # or "function": each top-level function of a source is a program
    # a program that continues its prompt (a signature and docstring) is edited from the prompt,
    # so the edits never re-write it; False: always from the empty program, as in the paper
    from_prompt: bool = True
    batch_size: int = 64  # programs advanced in lockstep per linter round
    # bounded work: a longer program is rejected as `too_large` (0: no cap)
    max_program_lines: int = MAX_PROGRAM_LINES
    # per-record budget, counted: lines parsed + linted while sampling all of a program's paths;
    # past it the program is rejected as `budget_exceeded`, the same on any machine (0: none)
    max_checked_lines: int = MAX_CHECKED_LINES
    # wall-clock backstop per batch, for the unforeseen only (rows past it: `timeout`; 0: none)
    backstop_seconds: float = 3600.0

    def __post_init__(self):
        if self.paths_per_program < 1:
            raise ValueError("paths_per_program must be >= 1")
        if isinstance(self.path_tries, bool) or self.path_tries < 0:
            raise ValueError("path_tries must be >= 0 (0: 4 x paths_per_program)")
        if self.max_edits < 0:
            raise ValueError("max_edits must be >= 0 (0: no cap)")
        if self.unit not in UNITS:
            raise ValueError(f"unit must be one of: {', '.join(UNITS)} (got {self.unit!r})")
        if self.batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        for key in ("max_program_lines", "max_checked_lines"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{key} must be an integer >= 0 (0: no cap), got {value!r}")
        value = self.backstop_seconds
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
            raise ValueError(f"backstop_seconds must be a number >= 0 (0: no backstop), got {value!r}")
