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

Scaling with program size (`--sizes`, instead of the comparison above): programs of about 100,
1,000 and 10,000 lines, each the concatenation of consecutive stdlib function programs (as
above, shuffled once, `from __future__` ones left out: they must come first), lint-clean as a
whole; every size cut from the same code (the first `--lines-per-size` lines), batched as the
Beam stage does (64 programs), max_program_lines raised to fit. Printed per size: sequences/s, the
cost per program line (ms per line per sequence) and its ratio to the smallest size, and the
counted work (lines checked per program line per path). `--plain` adds the same for the plain
algorithm (every state linted whole) on the sizes up to `--plain-max` lines.

    .venv/bin/python benchmarks/lintseq_bench.py --sizes 100,1000,10000 [--plain]
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
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from codekiln.transforms.lintseq import Job, ProgramRejected, Ruff, lintseq_batch  # noqa: E402
from codekiln.transforms.lintseq.functions import NotPython, top_level_functions  # noqa: E402
from codekiln.transforms.lintseq.linter import syntax_error  # noqa: E402

CORPUS = REPO / "configs" / "corpora" / "humaneval.jsonl.gz"
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


def sized_programs(functions: list[str], size: int, total_lines: int, ruff: Ruff) -> list[str]:
    """Programs of at least `size` lines cut from the first `total_lines` lines of `functions`
    (consecutive function programs joined), lint-clean whole: every size gets the same code."""
    out, k, used = [], 0, 0
    while k < len(functions) and used < total_lines:
        parts, n = [], 0
        while k < len(functions) and n < size:
            parts.append(functions[k])
            n += functions[k].count("\n") + 2
            k += 1
        used += n
        program = "\n\n".join(parts)
        if n >= size and ruff.check_many([program]) == [()]:
            out.append(program)
    return out


def clean_alone(programs: list[str], ruff: Ruff) -> list[str]:
    """The programs that parse and lint clean on their own (no walks: just the check)."""
    parsed = [p for p in programs if syntax_error(p) is None]
    return [p for p, f in zip(parsed, ruff.check_many(parsed), strict=True) if not f]


def scaling(args) -> None:
    sizes = [int(x) for x in args.sizes.split(",")]
    with Ruff() as ruff:
        functions = [p for p in stdlib_functions(args.stdlib_functions * 10) if "__future__" not in p]
        functions = clean_alone(functions, ruff)
        random.Random(0).shuffle(functions)
        programs = {size: sized_programs(functions, size, args.lines_per_size, ruff) for size in sizes}
    print(f"{os.cpu_count()} cores, one process; {args.paths} paths per program; the same "
          f"{args.lines_per_size} lines of stdlib functions cut into programs of each size; up to 64 "
          "programs per batch")
    print(f"  {'':6s} {'size':>6s} {'programs':>8s} {'lines':>7s} {'seconds':>8s} {'sequences/s':>11s} "
          f"{'edits/seq':>9s} {'ms/line/seq':>11s} {'ratio':>6s} {'checked/line/path':>17s} {'rounds':>7s}")
    modes = [("views", False)] + ([("plain", True)] if args.plain else [])
    for label, whole in modes:
        base = None
        for size in sizes:
            if whole and size > args.plain_max:
                continue
            progs = programs[size]
            jobs = [Job(p, f"{size}-{i}", args.paths, 0, max_lines=0, budget=0) for i, p in enumerate(progs)]
            stats: Counter = Counter()
            sequences = edits = 0
            with Ruff() as ruff:
                t = time.perf_counter()
                for k in range(0, len(jobs), 64):
                    for result in lintseq_batch(jobs[k:k + 64], ruff, whole_program=whole, stats=stats):
                        if isinstance(result, ProgramRejected):
                            raise SystemExit(f"unexpected reject: {result}")
                        sequences += len(result)
                        edits += sum(len(p.edits) for p in result)
                seconds = time.perf_counter() - t
            lines = sum(p.count("\n") + 1 for p in progs)
            per_line = seconds / (lines * args.paths) * 1000  # ms per program line per sequence
            base = base or per_line
            print(f"  {label:6s} {size:6d} {len(progs):8d} {lines / len(progs):7.0f} {seconds:8.1f} "
                  f"{sequences / seconds:11.2f} {edits / sequences:9.1f} {per_line:11.4f} {per_line / base:6.2f} "
                  f"{stats['checked_lines'] / (lines * args.paths):17.1f} {stats['lint_rounds']:7d}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--paths", type=int, default=5, help="paths per program (the reference's default)")
    ap.add_argument("--stdlib-functions", type=int, default=2000)
    ap.add_argument("--programs-a", type=int, default=40, help="programs for pylintseq (about 5 sequences/s)")
    ap.add_argument("--programs-b", type=int, default=300, help="programs for one ruff call per check")
    ap.add_argument("--pylintseq-python", help="an interpreter whose environment has pylintseq")
    ap.add_argument("--sizes", help="instead: the scaling section, for these program sizes (lines), e.g. 100,1000,10000")
    ap.add_argument("--lines-per-size", type=int, default=20_000, help="lines of code per size (--sizes)")
    ap.add_argument("--plain", action="store_true", help="with --sizes: the plain algorithm too")
    ap.add_argument("--plain-max", type=int, default=1000, help="largest size for --plain (it is quadratic)")
    args = ap.parse_args()
    if args.sizes:
        scaling(args)
        return

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
