"""Sandboxed execution throughput: the warm pool vs the usual ways of running model code.

Same tasks for every mode (HumanEval canonical solutions with their tests, cycled to --tasks),
same parallelism (--workers, default the core count), all run side by side in one process:
  (a) a cold `python` subprocess per task, no isolation (what evaluation harnesses usually do)
  (b) a cold `bwrap` sandbox per task, with the pool's isolation flags
  (c) the pool: warm bubblewrap sandboxes forking a child per test, every defence on (data
      tests judged on the host, unprivileged uid, memory cgroup, non-dumpable server)
(a) and (b) are each measured twice: as harnesses run them (`python file.py`) and with `-S`
(no site-packages at start-up: the fastest cold start there is, and what the pool uses).
Then what each defence costs: the pool again with one of them off (never a supported setting).

    .venv/bin/python benchmarks/sandbox_throughput.py [--tasks 1000] [--workers 2]

Targets: (c) >= 3x (a) with -S and >= 5x (b) with -S.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from codekiln.transforms.execution import SandboxConfig, SandboxPool, Task  # noqa: E402
from codekiln.transforms.execution import sandbox as sandbox_module  # noqa: E402
from codekiln.transforms.execution.sandbox import _interpreter, bwrap_command  # noqa: E402

CORPUS = REPO / "configs" / "corpora" / "humaneval.jsonl.gz"
SAMPLE = REPO / "configs" / "samples" / "humaneval.jsonl"


def load_tasks(n: int) -> list[tuple[str, str]]:
    if CORPUS.exists():
        with gzip.open(CORPUS, "rt") as f:
            problems = [json.loads(x) for x in f]
    else:
        problems = [json.loads(x) for x in open(SAMPLE)]
    out = []
    for i in range(n):
        p = problems[i % len(problems)]
        out.append((p["prompt"] + p["canonical_solution"], p["test"] + f"\ncheck({p['entry_point']})\n"))
    return out


def cold_python(tasks, workers, tmp: Path, flags: list[str]) -> tuple[float, int]:
    _, python = _interpreter()

    def one(i_task):
        i, (program, test) = i_task
        path = tmp / f"a{i}.py"
        path.write_text(program + "\n" + test)
        proc = subprocess.run([python, *flags, str(path)], capture_output=True, timeout=30)
        return proc.returncode == 0

    t = time.perf_counter()
    with ThreadPoolExecutor(workers) as ex:
        ok = sum(ex.map(one, enumerate(tasks)))
    return time.perf_counter() - t, ok


def cold_bwrap(tasks, workers, tmp: Path, flags: list[str]) -> tuple[float, int]:
    base = bwrap_command(SandboxConfig())
    cut = base.index("-S")  # the interpreter path stands right before its flags
    prefix, python = base[:cut - 1], base[cut - 1]
    mount_at = prefix.index("--remount-ro")  # after /tmp exists, before the root turns read-only

    def one(i_task):
        i, (program, test) = i_task
        path = tmp / f"b{i}.py"
        path.write_text(program + "\n" + test)
        cmd = (prefix[:mount_at] + ["--ro-bind", str(path), "/tmp/task.py"] + prefix[mount_at:]
               + [python, *flags, "/tmp/task.py"])
        proc = subprocess.run(cmd, capture_output=True, timeout=30)
        return proc.returncode == 0

    t = time.perf_counter()
    with ThreadPoolExecutor(workers) as ex:
        ok = sum(ex.map(one, enumerate(tasks)))
    return time.perf_counter() - t, ok


def pool_run(tasks, workers, off: str | None = None) -> tuple[float, int, float, float]:
    """The pool's throughput with every defence on, or with the one named by `off` disabled."""
    saved = (sandbox_module._Cgroups.memory_available, sandbox_module._drops_privileges, sandbox_module.plan)
    if off == "memory cgroup":
        sandbox_module._Cgroups.memory_available = staticmethod(lambda: False)
    elif off == "unprivileged uid":
        sandbox_module._drops_privileges = lambda: False
    elif off == "host-side judging":  # every test as code, judged in the untrusted process
        sandbox_module.plan = lambda test: ({"kind": "code", "src": test}, None)
    try:
        t0 = time.perf_counter()
        with SandboxPool(SandboxConfig(pool_size=workers, cache=False, timeout_s=10)) as pool:
            start = time.perf_counter() - t0
            pool.run_many([Task(p, [test]) for p, test in tasks[:50]])  # warm the test caches
            t = time.perf_counter()
            results = pool.run_many([Task(p, [test]) for p, test in tasks])
            elapsed = time.perf_counter() - t
        isolated = sum(r.isolated for r in results) / len(results)
    finally:
        (sandbox_module._Cgroups.memory_available, sandbox_module._drops_privileges, sandbox_module.plan) = saved
    return elapsed, sum(r.passed for r in results), start, isolated


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tasks", type=int, default=1000)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--rounds", type=int, default=3, help="every mode once per round; medians are printed")
    args = ap.parse_args()
    tasks = load_tasks(args.tasks)
    n = len(tasks)
    samples: dict[tuple, list[tuple[float, int]]] = {}
    isolated = start = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        os.chmod(tmp, 0o755)  # the cold bwrap sandbox runs as an unprivileged uid
        for _ in range(args.rounds):  # interleaved, so a slow phase of the machine hits every mode
            for name, fn in (("a", cold_python), ("b", cold_bwrap)):
                for flags in ([], ["-S"]):
                    elapsed, ok = fn(tasks, args.workers, Path(tmp), flags)
                    samples.setdefault((name, bool(flags)), []).append((n / elapsed, ok))
            for off in (None, "host-side judging", "memory cgroup", "unprivileged uid"):
                elapsed, ok, started, share = pool_run(tasks, args.workers, off)
                samples.setdefault(("c", off), []).append((n / elapsed, ok))
                if off is None:
                    isolated, start = share, started
    rates = {k: (statistics.median(r for r, _ in v), min(ok for _, ok in v)) for k, v in samples.items()}
    pool, ok_c = rates["c", None]
    label = {"a": "cold python subprocess, no isolation", "b": "cold bwrap sandbox per task"}
    print(f"{n} HumanEval tasks (canonical solution + tests), {args.workers} parallel workers, "
          f"median of {args.rounds} interleaved rounds:")
    for name in ("a", "b"):
        for fast in (False, True):
            rate, ok = rates[name, fast]
            how = "python -S file.py" if fast else "python file.py   "
            print(f"  ({name}) {label[name]:38s} {how}  {rate:7.1f} tasks/s  ({ok}/{n} passed)")
    print(f"  (c) warm sandbox pool, every defence on{'':19s}{pool:7.1f} tasks/s  ({ok_c}/{n} passed; "
          f"{isolated:.0%} of tasks judged on the host; pool start {start:.2f} s, not counted)")
    for name, target in (("a", 3), ("b", 5)):
        print(f"  pool vs ({name}): {pool / rates[name, False][0]:5.1f}x as harnesses run it, "
              f"{pool / rates[name, True][0]:5.1f}x against -S   (target >= {target}x against -S)")
    print("what each defence costs (the pool with only that defence off):")
    for off in ("host-side judging", "memory cgroup", "unprivileged uid"):
        rate, ok = rates["c", off]
        print(f"  without {off:18s} {rate:7.1f} tasks/s  ({ok}/{n} passed): the defence costs "
              f"{(1 - pool / rate) * 100:+5.1f}% of throughput")


if __name__ == "__main__":
    main()
