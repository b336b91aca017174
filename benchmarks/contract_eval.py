"""Input contracts as a differential oracle on real model samples.

For each HumanEval problem: seeds from its tests, a contract inferred from them (and the prompt),
`n` inputs generated inside it, the reference run on all of them in the sandbox (inputs where it
does not return finite plain data are dropped), then each StarCoder2 sample run on the kept
inputs. A sample "differs" when on some kept input it fails, times out or returns a value that
is not `values.close` to the reference's. Grouped by the samples' EvalPlus verdicts:

- base pass / plus fail (15): real wrong programs HumanEval's tests miss; they should differ,
  unless they behave like the HumanEval reference (checked: the same code up to local names).
- pass / pass (104): correct programs; any that differs is a false reject (an input the problem
  does not allow, on which the reference does something arbitrary).
- fail / fail (45): wrong programs HumanEval's own tests catch.

Seeds themselves are not among the inputs (generate returns fresh ones only). Each program's
inputs run as tasks of at most 50 probes (1 s each; two timeouts end a task), all in one
`run_many` per phase. `--salt` changes every problem's rng: a check that the figures are not one
lucky draw. Reads the bundled copies in configs/corpora.

    .venv/bin/python benchmarks/contract_eval.py [--n 200] [--tasks 10,86] [--show 3] [--salt 1]
        [--contracts 99,124]
"""

from __future__ import annotations

import argparse
import ast
import builtins
import gzip
import hashlib
import json
import random
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from codekiln.transforms.execution import SandboxConfig, SandboxPool, values  # noqa: E402
from codekiln.transforms.execution.sandbox import Probe, Task  # noqa: E402
from codekiln.transforms.testgen.contract import generate, infer  # noqa: E402
from codekiln.transforms.testgen.inputs import call_source, seed_inputs  # noqa: E402

CORPORA = REPO / "configs" / "corpora"
CHUNK = 50
GROUPS = [("pass", "fail"), ("pass", "pass"), ("fail", "fail")]


def rng_for(task_id: str, salt: str = "") -> random.Random:
    return random.Random(int.from_bytes(hashlib.sha256((task_id + salt).encode()).digest()[:8], "big"))


def _function(src: str, name: str):
    try:
        tree = ast.parse(src)
    except SyntaxError:
        return None
    return next((n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name == name), None)


def alpha_normal(src: str, name: str) -> str | None:
    """The entry function's body (docstring dropped) with its local names renamed in order of
    appearance: two programs with equal results are the same code up to variable names."""
    fn = _function(src, name)
    if fn is None:
        return None
    body = fn.body[1:] if fn.body and isinstance(fn.body[0], ast.Expr) and isinstance(
        getattr(fn.body[0], "value", None), ast.Constant) else fn.body
    mod = ast.Module(body=body, type_ignores=[])
    params = {a.arg for a in fn.args.args}
    local: dict[str, str] = {}
    for node in ast.walk(mod):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store) and node.id not in params:
            local.setdefault(node.id, f"v{len(local)}")
    for node in ast.walk(mod):
        if isinstance(node, ast.Name) and node.id in local and not hasattr(builtins, node.id):
            node.id = local[node.id]
    return ast.dump(mod)


class Bad(str):
    """A test that gave no value: its verdict and message."""


def run_chunked(pool, jobs: list[tuple[str, str, list[tuple]]]) -> list[list[tuple[str, object]]]:
    """Every (program, entry point, inputs) job's (verdict, value) per input, from one run_many
    over tasks of at most CHUNK probes (two timeouts end a task, not the whole job)."""
    tasks, owners = [], []
    for j, (program, entry, inputs) in enumerate(jobs):
        for k in range(0, len(inputs), CHUNK):
            tasks.append(Task(program, [Probe(call_source(entry, a)) for a in inputs[k:k + CHUNK]],
                              timeout_s=1.0, max_timeouts=2))
            owners.append(j)
    out: list[list] = [[] for _ in jobs]
    for j, task, r in zip(owners, tasks, pool.run_many(tasks), strict=True):
        for i in range(len(task.tests)):
            t = r.tests[i] if i < len(r.tests) else {"verdict": r.verdict, "message": str(r.program_error)}
            if t["verdict"] != "passed":
                out[j].append((t["verdict"], Bad(f"<{t['verdict']}{' (skipped)' if t.get('skipped') else ''}: "
                                              f"{str(t.get('message') or t.get('type') or '')[:80]}>")))
                continue
            try:
                out[j].append(("passed", r.value(i)))
            except values.NonData as e:
                out[j].append(("non_data", Bad(f"<non-data: {e}>")))
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=200, help="inputs generated per problem")
    ap.add_argument("--tasks", default="", help="comma-separated HumanEval numbers (default: all)")
    ap.add_argument("--show", type=int, default=2, help="differing inputs shown per false reject")
    ap.add_argument("--salt", default="", help="appended to the task id that seeds the rng (a robustness check)")
    ap.add_argument("--contracts", default="10,99,122,124,144,129", help="problems whose contract is printed")
    args = ap.parse_args()

    with gzip.open(CORPORA / "humaneval.jsonl.gz", "rt") as f:
        problems = [json.loads(line) for line in f]
    with open(CORPORA / "starcoder2_humaneval_samples.jsonl") as f:
        samples = {r["task_id"]: r for r in map(json.loads, f)}
    if args.tasks:
        wanted = {f"HumanEval/{t.strip()}" for t in args.tasks.split(",")}
        problems = [p for p in problems if p["task_id"] in wanted]

    t0 = time.time()
    work = []
    for p in problems:
        ep = p["entry_point"]
        seeds = seed_inputs([p["test"] + f"\n\ncheck({ep})\n"], ep)
        contract = infer(seeds, p["prompt"], p["canonical_solution"], ep)
        inputs = generate(contract, seeds, args.n, rng_for(p["task_id"], args.salt))
        work.append((p, seeds, contract, inputs))
    t_gen = time.time() - t0

    with SandboxPool(SandboxConfig(cache=False, timeout_s=2)) as pool:
        ref_results = run_chunked(pool, [(p["prompt"] + p["canonical_solution"], p["entry_point"], inputs)
                                         for p, _, _, inputs in work])
        kept_all = []
        dropped = 0
        for (_, _, _, inputs), outcomes in zip(work, ref_results, strict=True):
            kept = []
            for a, (verdict, v) in zip(inputs, outcomes, strict=True):
                if verdict == "passed" and not isinstance(v, Bad) and values.is_finite(v):
                    kept.append((a, v))
            dropped += len(inputs) - len(kept)
            kept_all.append(kept)
        t_ref = time.time() - t0
        cand_results = run_chunked(pool, [(p["prompt"] + samples[p["task_id"]]["completion"], p["entry_point"],
                                           [a for a, _ in kept]) for (p, _, _, _), kept in zip(work, kept_all, strict=True)])
    t_all = time.time() - t0

    report = {g: [] for g in GROUPS}
    for (p, seeds, _, inputs), kept, outcomes in zip(work, kept_all, cand_results, strict=True):
        s = samples[p["task_id"]]
        diffs = []
        for (a, want), (verdict, got) in zip(kept, outcomes, strict=True):
            if verdict != "passed" or not values.close(got, want):
                diffs.append((a, want, got))
        same_code = alpha_normal(p["prompt"] + s["completion"], p["entry_point"]) == \
            alpha_normal(p["prompt"] + p["canonical_solution"], p["entry_point"])
        report[(s["base_status"], s["plus_status"])].append(
            {"task_id": p["task_id"], "differs": bool(diffs), "diffs": diffs, "kept": len(kept),
             "generated": len(inputs), "seeds": len(seeds), "same_code": same_code})

    print(f"problems: {len(work)}, inputs generated: {sum(len(w[3]) for w in work)}, "
          f"dropped by the reference: {dropped}")
    n_kept = [len(k) for k in kept_all]
    few = [f"{w[0]['task_id'].split('/')[1]}:{len(k)}" for w, k in zip(work, kept_all, strict=True) if len(k) < 20]
    print(f"mean kept inputs per problem: {sum(n_kept) / max(1, len(n_kept)):.1f} "
          f"(problems with none: {sum(1 for k in n_kept if not k)}; under 20, problem:kept: {' '.join(few)})")
    print(f"time: {t_all:.1f}s (generation {t_gen:.1f}s, reference {t_ref - t_gen:.1f}s, "
          f"candidates {t_all - t_ref:.1f}s)")
    for g in GROUPS:
        rows = report[g]
        differ = [x for x in rows if x["differs"]]
        print(f"\n== base {g[0]} / plus {g[1]}: {len(differ)} of {len(rows)} differ")
        if g == ("pass", "fail"):
            for x in rows:
                mark = "differs" if x["differs"] else "agrees "
                note = "  (same code as the reference up to local names)" if x["same_code"] else ""
                example = ""
                if x["diffs"]:
                    a, want, got = x["diffs"][0]
                    example = f"  e.g. {call_source('f', a)[1:][:60]} ref={want!r:.40} got={got!r:.60}"
                print(f"  {mark} {x['task_id']:14} on {len(x['diffs']):3} of {x['kept']:3} kept inputs{note}{example}")
        elif g == ("pass", "pass"):
            for x in differ:
                print(f"  FALSE REJECT {x['task_id']} ({len(x['diffs'])} of {x['kept']} inputs)")
                for a, want, got in x["diffs"][:args.show]:
                    print(f"      {call_source('f', a)[1:][:100]} ref={want!r:.60} got={got!r:.80}")
        else:
            print("  agree: " + ", ".join(x["task_id"].split("/")[1] for x in rows if not x["differs"]))
    shown = {f"HumanEval/{t}" for t in args.contracts.split(",") if t}
    for p, _, contract, _ in work:
        if p["task_id"] in shown:
            print(f"\ncontract of {p['task_id']} ({p['entry_point']}):\n  {contract.to_json()}")


if __name__ == "__main__":
    main()
