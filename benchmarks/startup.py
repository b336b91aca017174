"""How long the commands that do not build take from the shell, median of 5 runs each: the
reading commands must start fast (they never import Beam, the methods, `datasets` or pandas).
Builds a small `problems` version first (HumanEval sample) to have something to read.

    .venv/bin/python benchmarks/startup.py
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "codekiln.pipelines.cli"]


def timed(args: list[str], runs: int = 5) -> float:
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        subprocess.run(CLI + args, check=True, capture_output=True, cwd=REPO)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = f"{tmp}/store"
        cfg = Path(tmp) / "p.yaml"
        cfg.write_text(f"name: he\nkind: problems\nlicense: mit\nsource: {{path: {REPO}/configs/samples/humaneval.jsonl, "
                       "fields: {id: task_id, prompt: prompt, solution: canonical_solution, entry_point: entry_point}}\n")
        subprocess.run(CLI + ["build", str(cfg), "--root", root, "-q"], check=True, capture_output=True, cwd=REPO)
        python = timed(["--version"])
        rows = [("codekiln --version", python)]
        for name, args in [("report --help", ["report", "--help"]),
                           ("ls", ["ls", "--root", root]),
                           ("show he", ["show", "he", "--root", root]),
                           ("publish --dry-run", ["publish", "he", "--repo", "me/he", "--root", root,
                                                  "--dry-run", f"{tmp}/dry"]),
                           ("build --help", ["build", "--help"])]:
            if name.startswith("publish"):
                subprocess.run(["rm", "-rf", f"{tmp}/dry"], check=True)
            rows.append((name, timed(args) if not name.startswith("publish") else _publish(args, tmp)))
    for name, t in rows:
        print(f"{name:22s} {t:6.2f} s   ({t / python:4.1f}x `--version`)")


def _publish(args: list[str], tmp: str, runs: int = 5) -> float:
    times = []
    for _ in range(runs):
        subprocess.run(["rm", "-rf", f"{tmp}/dry"], check=True)
        t = time.perf_counter()
        subprocess.run(CLI + args, check=True, capture_output=True, cwd=REPO)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


if __name__ == "__main__":
    main()
