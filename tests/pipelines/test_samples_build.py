"""Real samples (EvalPlus's samples.jsonl shape) as `labels` candidates, joined by problem id:
every sample ends as a label row or a reject with its reason, and the counts add up."""

import json

import pyarrow.parquet as pq
from codekiln.pipelines.storage.store import Store

from tests.conftest import humaneval, run_cli


def test_samples_are_labelled_or_rejected_with_a_reason(tmp_path):
    recs = humaneval(2)
    problems = tmp_path / "p.jsonl"
    problems.write_text("".join(json.dumps(r) + "\n" for r in recs))
    a, b = recs
    samples = [
        {"task_id": a["task_id"], "completion": a["canonical_solution"]},  # right, body only
        {"task_id": a["task_id"], "solution": a["prompt"] + "    return False\n"},  # wrong, whole program
        {"task_id": a["task_id"], "completion": a["canonical_solution"].replace("\n", "\r\n") + "  # same\r\n"},
        {"task_id": b["task_id"], "completion": "    return [paren_string]\n"},  # wrong
        {"task_id": b["task_id"], "completion": "    return [\n"},  # does not parse
        {"task_id": "HumanEval/999", "completion": "    return 1\n"},  # no such problem
        {"task_id": a["task_id"]},  # no program
        {"solution": "def f(): pass\n"},  # no problem named
    ]
    sample_file = tmp_path / "samples.jsonl"
    sample_file.write_text("".join(json.dumps(s) + "\n" for s in samples) + "not json\n")
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"""
datasets:
  - name: t
    kind: tests
    source: {{path: {problems}, fields: {{id: task_id, prompt: prompt, solution: "{{prompt}}{{canonical_solution}}", tests: test, entry_point: entry_point}}}}
    params: {{pool_size: 20, max_mutants: 10, heldout_mutants: 5}}
  - name: l
    kind: labels
    sources:
      - {{dataset: t}}
      - {{name: mine, path: {sample_file}, role: samples}}
    params: {{mutants: false, fuzz_inputs: 30}}
""")
    run_cli("build", str(cfg), "--root", str(tmp_path / "s"))
    store = Store(str(tmp_path / "s"))
    rows = [r for f in store.files(store.resolve("l")) for r in pq.read_table(f).to_pylist()]
    mine = sorted((r["problem_id"], r["label"], r["canonical"]) for r in rows if r["origin"] == "sample:mine")
    # the CRLF/comment variant renders like the body-only sample: the same candidate, once
    assert mine == [(a["task_id"], False, True), (a["task_id"], True, True),
                    (b["task_id"], False, False), (b["task_id"], False, True)]
    assert all(r["prompt"] + r["completion"] == r["program"] for r in rows if r["continues_prompt"])
    # the right sample, its CRLF variant and the reference are one program: one row, 3 copies
    assert sorted(r["copies"] for r in rows if r["origin"] == "sample:mine") == [1, 1, 1, 3]
    rejects = json.loads(run_cli("sql", "select stage, reason from l_rejects order by all", "--format", "json",
                                 root=tmp_path / "s").stdout)
    assert [(r["stage"], r["reason"]) for r in rejects] == [
        ("join_samples", "unknown_problem"), ("normalise", "missing_field"), ("normalise", "missing_field"),
        ("read", "malformed_json")]
    stages = {s["stage"]: s for s in json.loads(run_cli("show", "l", root=tmp_path / "s").stdout)["stages"]}
    assert stages["read"]["in"] == 2 + len(samples) + 1
    assert stages["join_samples"]["in"] == stages["dedupe"]["out"] == 2 + len(samples) - 2
    assert stages["join_samples"]["out"] == 2 and stages["join_samples"]["rejected"] == 1
