"""The LintSeq linter: syntax from CPython's parser, names and misplaced statements from ruff.

ruff runs with `--isolated` and a pinned rule selection, so a result never depends on a config
file or on which packages are installed (nothing is imported). `check_many` lints any number of
programs in ONE ruff process (ruff checks about a thousand small files in tens of ms), which is
what makes lockstep batching fast; `check_one` is the one-process-per-check baseline.
"""

from __future__ import annotations

import json
import os
import subprocess
import warnings
from dataclasses import dataclass

from codekiln.transforms import pyast
from codekiln.transforms.lease import leased_tmpdir, release_tmpdir
from ruff.__main__ import find_ruff_bin

# Undefined names (F821-F823) and statements outside where they belong (F701-F706,
# PLE0117/PLE0118). Unused imports or variables are not errors, as in the reference.
RULES = ("F821", "F822", "F823", "F701", "F702", "F704", "F706", "PLE0117", "PLE0118")
TARGET = "py311"


@dataclass(frozen=True)
class Finding:
    row: int  # 1-based line in the checked text
    code: str
    message: str

    def __str__(self) -> str:
        return f"line {self.row}: {self.code} {self.message}"


def syntax_error(text: str) -> SyntaxError | None:
    """CPython's verdict (ruff places some syntax errors on the wrong line)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # invalid escape sequences etc. are not errors here
            pyast.parse(text)
    except SyntaxError as e:
        return e
    except ValueError as e:  # e.g. null bytes
        return SyntaxError(str(e))
    return None


class Ruff:
    """A ruff runner with a per-instance result cache (states repeat across paths)."""

    CACHE_MAX = 200_000

    def __init__(self, rules: tuple[str, ...] = RULES, target: str = TARGET):
        self.bin = find_ruff_bin()
        self.args = ["check", "--isolated", "--no-cache", "--exit-zero", "--output-format", "json",
                     "--select", ",".join(rules), "--target-version", target]
        self.dir, self._lease = leased_tmpdir("lint")  # a killed worker's folder: removed by gc
        self.calls = 0
        self.files_checked = 0
        self._cache: dict[str, tuple[Finding, ...]] = {}

    def _run(self, extra: list[str], stdin: str | None = None) -> list[dict]:
        self.calls += 1
        proc = subprocess.run([self.bin, *self.args, *extra], input=stdin, capture_output=True,
                              text=True, check=False)
        if proc.returncode != 0:
            raise RuntimeError(f"ruff failed ({proc.returncode}): {proc.stderr.strip()[:500]}")
        return json.loads(proc.stdout or "[]")

    @staticmethod
    def _finding(d: dict) -> Finding:
        return Finding(d["location"]["row"], d.get("code") or "invalid-syntax", d.get("message", ""))

    def check_many(self, texts: list[str]) -> list[tuple[Finding, ...]]:
        """Findings for each text, in one ruff process for all texts not seen before."""
        todo = list(dict.fromkeys(t for t in texts if t not in self._cache and t.strip()))
        if todo:
            names = []
            for i, text in enumerate(todo):
                name = os.path.join(self.dir, f"s{i}.py")
                with open(name, "w", encoding="utf-8") as f:
                    f.write(text)
                names.append(name)
            found: dict[str, list[Finding]] = {n: [] for n in names}
            for d in self._run([self.dir]):
                found.setdefault(d["filename"], []).append(self._finding(d))
            for name in names:
                os.remove(name)
            self.files_checked += len(todo)
            if len(self._cache) > self.CACHE_MAX:
                self._cache.clear()
            for name, text in zip(names, todo, strict=True):
                self._cache[text] = tuple(sorted(found[name], key=lambda f: (f.row, f.code)))
        return [self._cache.get(t, ()) for t in texts]

    def check_one(self, text: str) -> tuple[Finding, ...]:
        """One ruff process for one text (the baseline the lockstep batching is measured against)."""
        if not text.strip():
            return ()
        self.files_checked += 1
        found = [self._finding(d) for d in self._run(["--stdin-filename", "state.py", "-"], stdin=text)]
        return tuple(sorted(found, key=lambda f: (f.row, f.code)))

    def close(self) -> None:
        release_tmpdir(self.dir, self._lease)

    def __enter__(self) -> Ruff:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
