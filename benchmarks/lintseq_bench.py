"""LintSeq throughput: the authors' pylintseq vs this implementation, one ruff call per check
vs lockstep batching, on the same programs and the same number of paths per program.

Programs: the 164 HumanEval canonical programs and the first 2,000 top-level functions of the
Python standard library (sorted file order; each with its module's imports), keeping those that
are lint-clean on their own; interleaved in a fixed order. The slow modes run on a prefix of that
order (--programs-a, --programs-b), and lockstep is timed on the same prefix for each ratio.

  (a) pylintseq (pylint in-process, one lint per step), when an interpreter that has it is given
      (--pylintseq-python) or it is importable here; this script installs nothing. Put it in its
      own environment, e.g. `python3 -m venv /tmp/lsq && /tmp/lsq/bin/pip install pylintseq`:
      its pylint must not enter this project's lock file.
  (b) this implementation, one ruff process per check
  (c) this implementation, lockstep: each round's states of the whole batch in one ruff process

    .venv/bin/python benchmarks/lintseq_bench.py [--pylintseq-python /tmp/lsq/bin/python]

Targets: (c) >= 100x (a) and >= 10x (b).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from transforms.lintseq import Job, ProgramRejected, Ruff, lintseq_batch  # noqa: E402
from transforms.lintseq.functions import NotPython, top_level_functions  # noqa: E402

CORPUS = REPO.parent / "shared" / "corpora" / "humaneval.jsonl.gz"
SAMPLE = REPO / "configs" / "samples" / "humaneval.jsonl"

# Runs inside the pylintseq environment: its public sampling function, called as its own
# command-line tool calls it (one path per call, indentation-biased sampling).
REFERENCE_DRIVER = r"""
import json, sys, time
from pylintseq.utils import inflate_edit_path, lintseq_backward_sampling_pythonic, set_seed_everywhere
programs, paths = json.load(sys.stdin)
set_seed_everywhere(0)
t = time.perf_counter(); sequences = edits = 0
for code in programs:
    for _ in range(paths):
        tree = lintseq_backward_sampling_pythonic(code, children_per_round=1, top_k=1,
            max_population_size=1, max_depth=512, indent_bias_sampling_factor=1,
            ignore_imports=False, ignore_comments=True, ignore_global_defs=True, ignore_init_errors=False)
        if tree is None:
            continue
        _, diffs = inflate_edit_path(code, tree[0][0])
        sequences += 1; edits += len(diffs)
print(json.dumps({"seconds": time.perf_counter() - t, "sequences": sequences, "edits": edits}))
"""


def humaneval_programs() -> list[str]:
    if CORPUS.exists():
        with gzip.open(CORPUS, "rt") as f:
            records = [json.loads(x) for x in f]
    else:
        records = [json.loads(x) for x in open(SAMPLE)]
    return [r["prompt"] + r["canonical_solution"] for r in records]


def stdlib_functions(limit: int) -> list[str]:
    root = Path(sysconfig.get_paths()["stdlib"])
    out = []
    for path in sorted(root.rglob("*.py")):
        if "site-packages" in path.parts:
            continue
        try:
            functions = top_level_functions(path.read_text(encoding="utf-8"))
        except (NotPython, UnicodeDecodeError, OSError):
            continue
        for _, program in functions:
            out.append(program)
            if len(out) == limit:
                return out
    return out


def lint_clean(programs: list[str], ruff: Ruff) -> list[str]:
    results = lintseq_batch([Job(p, str(i), 1, 0) for i, p in enumerate(programs)], ruff)
    return [p for p, r in zip(programs, results, strict=True) if not isinstance(r, ProgramRejected)]


def ours(programs: list[str], paths: int, per_check: bool, batch: int = 256) -> tuple[float, int, int]:
    jobs = [Job(p, str(i), paths, 0) for i, p in enumerate(programs)]
    with Ruff() as ruff:
        t = time.perf_counter()
        sequences = edits = 0
        for k in range(0, len(jobs), batch):
            for result in lintseq_batch(jobs[k:k + batch], ruff, per_check=per_check):
                sequences += len(result)
                edits += sum(len(p.edits) for p in result)
        return time.perf_counter() - t, sequences, edits


def reference(python: str | None, programs: list[str], paths: int) -> dict | None:
    cmd = [python or sys.executable, "-c", REFERENCE_DRIVER]
    if python is None:
        try:
            import pylintseq  # noqa: F401
        except ImportError:
            return None
    proc = subprocess.run(cmd, input=json.dumps([programs, paths]), capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-2000:])
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--paths", type=int, default=5, help="paths per program (the reference's default)")
    ap.add_argument("--stdlib-functions", type=int, default=2000)
    ap.add_argument("--programs-a", type=int, default=40, help="programs for pylintseq (about 5 sequences/s)")
    ap.add_argument("--programs-b", type=int, default=300, help="programs for one ruff call per check")
    ap.add_argument("--pylintseq-python", help="an interpreter whose environment has pylintseq")
    args = ap.parse_args()

    with Ruff() as ruff:
        he, lib = humaneval_programs(), stdlib_functions(args.stdlib_functions)
        he_ok, lib_ok = lint_clean(he, ruff), lint_clean(lib, ruff)
    programs = he_ok + lib_ok
    random.Random(0).shuffle(programs)  # HumanEval and stdlib mixed in every prefix
    print(f"programs: {len(he_ok)}/{len(he)} HumanEval + {len(lib_ok)}/{len(lib)} stdlib functions "
          f"lint-clean on their own; {args.paths} paths each; {os.cpu_count()} cores, one process")

    def line(label, n, seconds, sequences, edits):
        print(f"  {label:44s} {n:5d} programs {sequences / seconds:9.1f} sequences/s "
              f"({edits / max(sequences, 1):.1f} edits/sequence)")
        return sequences / seconds

    c_all = line("(c) lockstep, all programs", len(programs), *ours(programs, args.paths, False))
    b_set = programs[:args.programs_b]
    b = line("(b) one ruff call per check", len(b_set), *ours(b_set, args.paths, True))
    c_b = line("(c) lockstep, same programs as (b)", len(b_set), *ours(b_set, args.paths, False))
    a_set = programs[:args.programs_a]
    ref = reference(args.pylintseq_python, a_set, args.paths)
    if ref is None:
        print("  (a) pylintseq: not importable here and no --pylintseq-python given: skipped")
    else:
        a = line("(a) pylintseq (authors' package)", len(a_set), ref["seconds"], ref["sequences"], ref["edits"])
        c_a = line("(c) lockstep, same programs as (a)", len(a_set), *ours(a_set, args.paths, False))
        print(f"  (c)/(a) = {c_a / a:7.1f}x   (target >= 100x)")
    print(f"  (c)/(b) = {c_b / b:7.1f}x   (target >= 10x)")
    print(f"  lockstep on all {len(programs)} programs: {c_all:.1f} sequences/s")


if __name__ == "__main__":
    main()
