"""Offline tests + labels + preferences on all 164 HumanEval problems: problems per second, and
the share of the time spent executing code in the sandbox.

Two measurements, side by side:
  1. the methods' cores (test generation, labelling, pairing) in one process, with the time
     inside the sandbox pool's `run_many` measured separately;
  2. the same three datasets built end to end by `codekiln build` (Beam, local runner).

    .venv/bin/python benchmarks/plum_bench.py [--problems 164]
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from transforms.execution import SandboxConfig, SandboxPool  # noqa: E402
from transforms.preferences.core import LabelParams, PairParams, label_rows, pairs  # noqa: E402
from transforms.testgen.suite import NoSuite, Problem, TestgenParams, build_suites, runnable_tests  # noqa: E402

CORPUS = REPO.parent / "shared" / "corpora" / "humaneval.jsonl.gz"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--problems", type=int, default=164)
    args = ap.parse_args()
    with gzip.open(CORPUS, "rt") as f:
        records = [json.loads(x) for x in f][:args.problems]
    problems = [Problem(r["task_id"], r["task_id"], r["prompt"], r["prompt"] + r["canonical_solution"],
                        r["entry_point"], runnable_tests([r["test"]], "check_function", r["entry_point"]))
                for r in records]
    executing = [0.0]

    with SandboxPool(SandboxConfig(cache=False)) as pool:
        def run(tasks):
            t = time.perf_counter()
            try:
                return pool.run_many(tasks)
            finally:
                executing[0] += time.perf_counter() - t

        t0 = time.perf_counter()
        suites = []
        tparams = TestgenParams()
        for k in range(0, len(problems), tparams.batch_size):
            suites += build_suites(problems[k:k + tparams.batch_size], run, tparams)
        rows = [dict(s, id=s["problem_id"]) for s in suites if not isinstance(s, NoSuite)]
        lparams = LabelParams()
        labelled = []
        for k in range(0, len(rows), lparams.batch_size):
            labelled += label_rows(rows[k:k + lparams.batch_size], {}, lparams, run)
        n_pairs = sum(len(pairs(ls, PairParams())) for ls in labelled if not isinstance(ls, Exception) and ls)
        core = time.perf_counter() - t0
        tasks = pool.stats["executed"]
    n = len(problems)
    print(f"{n} HumanEval problems, offline (reference + mutants), {os.cpu_count()} cores:")
    print(f"  methods' cores: {core:6.1f} s  {n / core:6.2f} problems/s  "
          f"({len(rows)} suites, {sum(len(x) for x in labelled if isinstance(x, list))} labels, {n_pairs} pairs, "
          f"{tasks} sandbox tasks)")
    print(f"  time executing in the sandbox: {executing[0]:6.1f} s = {100 * executing[0] / core:4.1f}% of the total")

    with tempfile.TemporaryDirectory() as root:
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "pipelines.cli", "build", "configs/plum-humaneval.yaml",
                        "--root", root, "-q"], cwd=REPO, check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        full = time.perf_counter() - t0
    print(f"  `codekiln build configs/plum-humaneval.yaml` (3 datasets, Beam local runner): {full:6.1f} s  "
          f"{164 / full:6.2f} problems/s")


if __name__ == "__main__":
    main()
