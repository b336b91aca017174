"""PLUM on all 164 HumanEval problems: how true the labels are, whether the surface gives the
pairs away, and how fast it runs.

Printed, all measured in this run:
  1. the methods' cores (test generation, labelling reference + mutants, pairing) in one process:
     problems/s and the share of time executing in the sandbox;
  2. real samples: StarCoder2-15B-Instruct's 164 HumanEval completions (EvalPlus verdicts on
     HumanEval's tests and on HumanEval+) labelled by the differential oracle, offline, beside
     what HumanEval's own tests and the shipped suites alone would accept;
  3. a trivial classifier on surface features only (layout, comments, `ast.unparse` form,
     restated prompt, length) over the HumanEval pairs: held-out accuracy (chance: 0.5);
  4. optionally (--build) the same three datasets built end to end by `codekiln build`.

    .venv/bin/python benchmarks/plum_bench.py [--problems 164] [--build]
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
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from codekiln.transforms.execution import SandboxConfig, SandboxPool  # noqa: E402
from codekiln.transforms.preferences.core import LabelParams, PairParams, label_rows, pairs  # noqa: E402
from codekiln.transforms.preferences.samples import as_candidate  # noqa: E402
from codekiln.transforms.preferences.surface import separability  # noqa: E402
from codekiln.transforms.testgen.suite import (  # noqa: E402
    NoSuite,
    Problem,
    TestgenParams,
    build_suites,
    runnable_tests,
)

DATA = REPO / "configs" / "corpora"


def load(n: int):
    with gzip.open(DATA / "humaneval.jsonl.gz", "rt") as f:
        records = [json.loads(x) for x in f][:n]
    with open(DATA / "starcoder2_humaneval_samples.jsonl") as f:
        samples = {s["task_id"]: s for s in map(json.loads, f)}
    return records, samples


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--problems", type=int, default=164)
    ap.add_argument("--build", action="store_true", help="also time `codekiln build configs/plum-humaneval.yaml`")
    ap.add_argument("--dump", metavar="FILE", help="write the offline label rows (JSON lines, one list per problem)")
    args = ap.parse_args()
    records, samples = load(args.problems)
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
        tparams, lparams = TestgenParams(), LabelParams()
        suites = []
        for k in range(0, len(problems), tparams.batch_size):
            suites += build_suites(problems[k:k + tparams.batch_size], run, tparams)
        rows = [dict(s, id=s["problem_id"]) for s in suites if not isinstance(s, NoSuite)]
        t_tests = time.perf_counter() - t0
        labelled = []
        for k in range(0, len(rows), lparams.batch_size):
            labelled += label_rows(rows[k:k + lparams.batch_size], {}, lparams, run)
        all_pairs = []
        for ls in labelled:
            if isinstance(ls, list) and ls:
                all_pairs += pairs(ls, PairParams())
        core = time.perf_counter() - t0
        n_tasks = pool.stats["executed"]
        core_executing = executing[0]

        # real samples, labelled offline (no mutants: only the sample and the reference)
        t1 = time.perf_counter()
        sparams = LabelParams(mutants=False)
        extra = {r["problem_id"]: [as_candidate({"text": samples[r["problem_id"]]["completion"],
                                                 "is_completion": True, "origin": "sample:starcoder2"},
                                                r["prompt"])]
                 for r in rows if r["problem_id"] in samples}
        sample_labels = []
        for k in range(0, len(rows), sparams.batch_size):
            sample_labels += label_rows(rows[k:k + sparams.batch_size], extra, sparams, run)
        t_samples = time.perf_counter() - t1

    n = len(problems)
    n_labels = sum(len(x) for x in labelled if isinstance(x, list))
    print(f"{n} HumanEval problems, offline, {os.cpu_count()} cores:")
    print(f"  methods' cores: {core:6.1f} s  {n / core:6.2f} problems/s  (tests {t_tests:.1f} s; {len(rows)} suites, "
          f"{n_labels} labels, {len(all_pairs)} pairs, {n_tasks} sandbox tasks)")
    print(f"  time executing in the sandbox: {core_executing:6.1f} s = {100 * core_executing / core:4.1f}% of the total")
    ok = [s for s in suites if not isinstance(s, NoSuite)]
    gen = [sum(t["input"] is not None for t in s["tests"]) for s in ok]
    held = [s["heldout_mutation_score"] for s in ok if s["heldout_mutation_score"] is not None]
    orig = [s["original_mutation_score"] for s in ok if s["original_mutation_score"] is not None]
    print(f"  suites: {sum(s['n_tests'] for s in ok) / len(ok):.2f} tests/problem ({sum(gen) / len(ok):.2f} generated), "
          f"pool {sum(s['n_pool'] for s in ok) / len(ok):.1f} inputs/problem; held-out mutation score "
          f"{sum(held) / len(held):.3f} (original tests {sum(orig) / max(len(orig), 1):.3f}); "
          f"{sum(s['n_equivalent'] for s in ok)} of {sum(s['n_mutants'] for s in ok)} mutants equivalent")
    decided = Counter(lab["oracle"] or "accepted" for ls in labelled if isinstance(ls, list) for lab in ls)
    print(f"  offline labels decided by: {dict(sorted(decided.items()))}")

    # 2. the StarCoder2 samples
    by_pid = {lab["problem_id"]: lab for ls in sample_labels if isinstance(ls, list) for lab in ls
              if lab["origin"] == "sample:starcoder2"}
    groups = {("pass", "fail"): "HumanEval passes, HumanEval+ fails (wrong)",
              ("pass", "pass"): "both pass (correct)", ("fail", "fail"): "both fail (wrong)"}
    print(f"\nStarCoder2-15B-Instruct samples, labelled offline ({t_samples:.1f} s):")
    print(f"  {'group':44s} {'n':>4s} {'oracle: true':>13s} {'suite alone':>12s} {'HumanEval tests':>16s}")
    for key, name in groups.items():
        members = [s for s in samples.values() if (s["base_status"], s["plus_status"]) == key
                   and s["task_id"] in by_pid]
        labs = [by_pid[s["task_id"]] for s in members]
        print(f"  {name:44s} {len(labs):4d} {sum(x['label'] for x in labs):13d} "
              f"{sum(x['suite_passed'] for x in labs):12d} {sum(bool(x['original_passed']) for x in labs):16d}")
    wrong_ok = [s["task_id"] for s in samples.values() if (s["base_status"], s["plus_status"]) == ("pass", "fail")
                and s["task_id"] in by_pid and by_pid[s["task_id"]]["label"]]
    right_bad = [(s["task_id"], by_pid[s["task_id"]]["oracle"], by_pid[s["task_id"]]["first_difference"])
                 for s in samples.values() if (s["base_status"], s["plus_status"]) == ("pass", "pass")
                 and s["task_id"] in by_pid and not by_pid[s["task_id"]]["label"]]
    print(f"  wrong programs still labelled true: {wrong_ok or 'none'}")
    print(f"  correct programs labelled false: {right_bad or 'none'}")

    # 3. the surface classifier over the offline pairs
    label_by_id = {(lab["problem_id"], lab["completion"]): lab for ls in labelled if isinstance(ls, list) for lab in ls}
    rows_for_clf = []
    for c, r in all_pairs:
        rows_for_clf.append({"id": f"{c['problem_id']}|{c['completion']}|{r['completion']}",
                             "problem_id": c["problem_id"], "chosen": c["completion"], "rejected": r["completion"],
                             "prompt_text": c["prompt"], "chosen_program": c["program"],
                             "rejected_program": r["program"]})
    acc = separability(rows_for_clf)
    if args.dump:
        with open(args.dump, "w") as f:
            f.writelines(json.dumps(ls) + "\n" for ls in labelled if isinstance(ls, list))
    print(f"\nSurface-feature classifier on {acc['pairs']} HumanEval pairs (held-out accuracy, chance 0.5): "
          f"logistic {acc['logistic']:.3f}, best stump {acc['stump']:.3f}")
    del label_by_id

    if args.build:
        with tempfile.TemporaryDirectory() as root:
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-m", "codekiln.pipelines.cli", "build", "configs/plum-humaneval.yaml",
                            "--root", root, "-q"], cwd=REPO, check=True, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
            full = time.perf_counter() - t0
        print(f"\n`codekiln build configs/plum-humaneval.yaml` (3 datasets, Beam local runner): {full:6.1f} s  "
              f"{164 / full:6.2f} problems/s")


if __name__ == "__main__":
    main()
