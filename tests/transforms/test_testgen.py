"""Test generation and preference pairs: the pure parts, then whole builds re-verified."""

import ast
import json
import random
from pathlib import Path

import datasets
import pyarrow.parquet as pq
import pytest
from codekiln.pipelines.storage.store import Store
from codekiln.transforms.execution import SandboxConfig, SandboxPool
from codekiln.transforms.preferences.core import PairParams, pairs
from codekiln.transforms.testgen.inputs import parse_llm_inputs, seed_inputs
from codekiln.transforms.testgen.mutants import mutants
from codekiln.transforms.testgen.suite import (
    Problem,
    TestgenParams,
    assert_source,
    build_suites,
    runnable_tests,
)

from tests.conftest import humaneval, run_cli
from tests.llm_server import FakeOpenAI, Reply, completion, echo

# -- inputs and mutants ----------------------------------------------------------------------


def test_seed_inputs_from_check_functions_and_assert_lists():
    check = ("def check(candidate):\n    assert candidate([1, 2], 3) == 3\n"
             "    assert abs(candidate([0.5], -1) - 2) < 1e-6\n    assert candidate(x, 1)\n"
             "    assert candidate([1, 2], 3) == 3\n")
    assert seed_inputs([check], "f") == [([1, 2], 3), ([0.5], -1)]
    assert seed_inputs(["assert f('ab') == 'ba'", "assert g(1) == 2", "nonsense("], "f") == [("ab",)]
    # constant arithmetic is folded, within bounds; nothing else is evaluated
    assert seed_inputs(["assert f(3 * 19 * 19, -(2 - 5), 2 ** 10) == 1", "assert f(10 ** 100) == 1",
                        "assert f(x * 2) == 1", "assert f([1 + 1]) == 2"], "f") == [(1083, 3, 1024)]
    assert parse_llm_inputs("[(1, 2), [3, 4], 5]") == [(1, 2), (3, 4), (5,)]
    assert parse_llm_inputs("__import__('os').system('id')") == []  # literals only, never eval


def test_mutants_are_distinct_faulty_variants():
    program = "def f(xs, k):\n    total = 0\n    for x in xs:\n        if x > k and x != 0:\n            total += x\n    return total\n"
    ms = mutants(program, 50, random.Random(0))
    ops = {op for op, _ in ms}
    assert {"compare", "arith", "boolean", "constant", "accumulator_init", "early_return", "remove_statement"} <= ops
    assert len({src for _, src in ms}) == len(ms) and all(ast.dump(ast.parse(src)) != ast.dump(ast.parse(program)) for _, src in ms)


def test_assert_sources_are_self_contained():
    assert assert_source("f", (1, "a"), [1, 2]) == "assert f(1, 'a') == [1, 2]"
    src = assert_source("f", (1,), [0.1, 2.0])
    namespace = {"f": lambda x: [0.1 + 1e-12, 2.0]}
    exec(src, namespace)  # noqa: S102 - our own generated source: runs without the harness
    with pytest.raises(AssertionError):
        exec(src, {"f": lambda x: [0.2, 2.0]})  # noqa: S102


def test_suite_for_one_problem_kills_every_killable_mutant():
    rec = humaneval()[3]  # below_zero
    problem = Problem(rec["task_id"], rec["task_id"], rec["prompt"], rec["prompt"] + rec["canonical_solution"],
                      rec["entry_point"], runnable_tests([rec["test"]], "check_function", rec["entry_point"]))
    broken = Problem("b", "b", "", "def g(:\n", "g", [])
    params = TestgenParams(pool_size=30, max_mutants=20, heldout_mutants=10)
    with SandboxPool(SandboxConfig(pool_size=2, cache=False)) as pool:
        suite, bad = build_suites([problem, broken], pool.run_many, params)
        again, _ = build_suites([problem, broken], pool.run_many, params)
    assert bad.reason == "reference_fails"
    assert suite == again  # no clock in a row
    assert suite["mutation_score"] == 1.0 and suite["n_killable"] > 0
    assert suite["n_heldout"] > 0 and 0 <= suite["heldout_mutation_score"] <= 1
    assert suite["n_mutants"] == suite["n_killable"] + suite["n_equivalent"]
    assert suite["tests"][0]["origin"] == "original"
    generated = [t for t in suite["tests"] if t["input"] is not None]
    assert len(generated) >= params.min_tests  # never just the original asserts
    pool_srcs = {t["assert_src"] for t in suite["pool"]}
    assert {t["assert_src"] for t in generated} <= pool_srcs and suite["n_pool"] == len(suite["pool"])
    assert json.loads(suite["contract"])  # the inferred input contract is recorded
    assert 0 < suite["branch_coverage"] <= 1


def test_pairing_rules():
    def lab(i, ratio):
        return {"id": str(i), "problem_id": "p", "prompt": "q", "completion": f"c{i}", "origin": "o",
                "pass_ratio": ratio, "label": ratio == 1.0, "verdicts": [], "verdict": "", "canonical": True,
                "continues_prompt": True}

    labels = [lab(0, 1.0), lab(1, 1.0), lab(2, 0.5), lab(3, 0.9), lab(4, 0.0)]
    plum = pairs(labels, PairParams(rule="plum", max_pairs_per_prompt=10))
    assert len(plum) == 2 * 3 and all(c["label"] and not r["label"] for c, r in plum)
    ace = pairs(labels, PairParams(rule="acecoder", max_pairs_per_prompt=10))
    assert ace and all(c["pass_ratio"] >= 0.8 and c["pass_ratio"] - r["pass_ratio"] >= 0.4 for c, r in ace)
    assert len(pairs(labels, PairParams(max_pairs_per_prompt=2))) == 2
    assert pairs([lab(0, 0.0), lab(1, 0.5)], PairParams()) == []
    # length is balanced: a chosen-longer pair only with a rejected-longer one of about the same gap
    sized = [dict(lab(0, 1.0), completion="x" * 10)] + [dict(lab(i, 0.0), completion="y" * n)
                                                         for i, n in ((1, 5), (2, 15), (3, 1), (4, 10))]
    got = sorted(len(r["completion"]) for _, r in pairs(sized, PairParams(max_pairs_per_prompt=4)))
    assert got == [5, 10, 15]
    assert len(pairs(sized, PairParams(max_pairs_per_prompt=4, balance_length=False))) == 4
    # sides of different forms never pair: a restated prompt or an unparsable program is a surface cue
    assert pairs([lab(0, 1.0), dict(lab(1, 0.0), continues_prompt=False)], PairParams()) == []
    assert pairs([lab(0, 1.0), dict(lab(1, 0.0), canonical=False)], PairParams()) == []


def test_verdicts_a_program_could_forge_are_never_used_by_default():
    from codekiln.transforms.preferences.core import LabelParams, NotLabelled, label_rows

    code_test = {"assert_src": "xs = [1, 2]\nfor x in xs:\n    assert f(x) == x"}
    row = {"problem_id": "p", "prompt": "", "reference": "def f(x):\n    return x\n", "timeout_s": 1.0,
           "entry_point": "f", "pool": [], "contract": None,
           "tests": [{"assert_src": "assert f(1) == 1"}, code_test]}
    with SandboxPool(SandboxConfig(pool_size=1, timeout_s=2, cache=False)) as pool:
        # the test that runs as code is left out: the label rests on what the host judged
        (labelled,) = label_rows([row], {}, LabelParams(mutants=False), pool.run_many)
        assert [(r["label"], r["trust"], r["n_tests"]) for r in labelled] == [(True, "isolated", 1)]
        (refused,) = label_rows([dict(row, tests=[code_test])], {}, LabelParams(mutants=False), pool.run_many)
        assert isinstance(refused, NotLabelled) and refused.reason == "not_isolated"
        (labelled,) = label_rows([row], {}, LabelParams(mutants=False, require_isolated=False), pool.run_many)
        assert [(r["origin"], r["label"], r["trust"], r["n_tests"]) for r in labelled] == [
            ("reference", True, "in_process", 2)]
    lab = {"id": "1", "problem_id": "p", "completion": "a", "origin": "o", "pass_ratio": 1.0, "label": True,
           "canonical": True, "continues_prompt": True}
    bad = dict(lab, id="2", completion="b", pass_ratio=0.0, label=False)
    assert pairs([dict(lab, trust="in_process"), dict(bad, trust="isolated")], PairParams()) == []
    assert len(pairs([dict(lab, trust="in_process"), dict(bad, trust="isolated")],
                     PairParams(require_isolated=False))) == 1


# -- whole builds ----------------------------------------------------------------------------


def _rows(root: Path, name: str) -> list[dict]:
    store = Store(str(root))
    return [r for f in store.files(store.resolve(name)) for r in pq.read_table(f).to_pylist()]


@pytest.fixture(scope="module")
def demo_store(tmp_path_factory):
    root = tmp_path_factory.mktemp("plum")
    for name in ("tests", "labels", "preferences"):
        run_cli("build", "configs/demo.yaml", "--only", name, "--root", str(root))
    return root


def test_every_chosen_passes_and_every_rejected_fails(demo_store):
    from codekiln.transforms.preferences.core import pool_of
    from codekiln.transforms.testgen.suite import judge_programs

    suites = {r["problem_id"]: r for r in _rows(demo_store, "tests")}
    prefs = _rows(demo_store, "preferences")
    assert len(suites) == 20 and prefs
    jobs = []
    for p in prefs:
        row = suites[p["problem_id"]]
        singles = [t["assert_src"] for t in row["tests"] if t["input"] is None]
        # standard format: the prompt, then the completion, is the program that was judged
        for side in (p["chosen"], p["rejected"]):
            assert not side.startswith(p["prompt"])
            jobs.append((p["prompt"] + side, row["entry_point"], pool_of(row), singles, row["step_budget"],
                         row["timeout_s"]))
    with SandboxPool(SandboxConfig(cache=False)) as pool:
        outcomes = judge_programs(jobs, pool.run_many)
    ok = [o.loaded and all(v == "passed" for v in o.pool + (o.singles or ["not_run"])) for o in outcomes]
    assert all(ok[0::2])  # 100% of chosen agree with the reference on the whole pool and pass the tests
    assert not any(ok[1::2])  # 100% of rejected do not
    labels = _rows(demo_store, "labels")
    assert {r["origin"] for r in labels} == {"reference", "mutant", "sample:starcoder2"}
    assert all(r["pass_ratio"] == 1.0 and r["suite_passed"] for r in labels if r["label"])
    assert all(r["oracle"] in ("suite", "pool", "fuzz") and r["first_difference"] for r in labels if not r["label"])
    assert all(r["prompt"] + r["completion"] == r["program"] for r in labels if r["continues_prompt"])


def test_manifests_record_quality_and_isolation(demo_store):
    tests = json.loads(run_cli("show", "tests", root=demo_store).stdout)
    q = tests["quality"]
    assert q["mutation_score"][0]["reduction_mean"] == 1.0
    assert 0 < q["mutation_score"][0]["heldout_mean"] <= 1.0
    assert q["mutants"][0]["equivalent"] >= 0 and q["tests_per_problem"][0]["min"] >= 1
    assert tests["sandbox"]["isolation"] == "bwrap"
    labels = json.loads(run_cli("show", "labels", root=demo_store).stdout)
    assert sum(v["n"] for v in labels["quality"]["verdicts"]) == labels["splits"]["train"]["rows"]
    oracle = labels["quality"]["oracle"][0]
    assert oracle["candidates"] == labels["splits"]["train"]["rows"] and oracle["suite_false_accepts"] >= 0
    prefs = json.loads(run_cli("show", "preferences", root=demo_store).stdout)
    assert prefs["quality"]["pairs_per_problem"][0]["max"] <= 4
    assert prefs["quality"]["chosen_not_reference"][0]["pairs"] == prefs["splits"]["train"]["rows"]


def test_preferences_load_with_datasets_in_trl_format(demo_store, tmp_path):
    store = Store(str(demo_store))
    files = store.files(store.resolve("preferences"))
    ds = datasets.load_dataset("parquet", data_files={"train": files}, split="train",
                               cache_dir=str(tmp_path / "hf"))
    trl = ds.select_columns(["prompt", "chosen", "rejected"])
    assert list(trl.features) == ["prompt", "chosen", "rejected"]
    assert all(trl.features[c] == datasets.Value("string") for c in trl.features)
    assert len(ds) == store.resolve("preferences")["splits"]["train"]["rows"]
    run_cli("build", "configs/demo.yaml", "--only", "preferences", "--root", str(demo_store),
            "--set", "preferences.params.format=conversational")
    conv = datasets.load_dataset("parquet", data_files={"train": store.files(store.resolve("preferences"))},
                                 split="train", cache_dir=str(tmp_path / "hf2"))
    assert conv[0]["chosen"][0]["role"] == "assistant" and conv[0]["prompt"][0]["role"] == "user"


def test_problems_without_reference_or_pairs_become_rejects(tmp_path):
    src = tmp_path / "p.jsonl"
    recs = humaneval(2)
    rows = [dict(recs[0]), dict(recs[1], canonical_solution="    return undefined_thing\n"),
            dict(recs[0], task_id="no-ref", prompt="", canonical_solution="")]
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"""
datasets:
  - name: t
    kind: tests
    source: {{path: {src}, fields: {{id: task_id, prompt: prompt, solution: "{{prompt}}{{canonical_solution}}", tests: test, entry_point: entry_point}}}}
    params: {{pool_size: 10, max_mutants: 5}}
  - name: l
    kind: labels
    source: {{dataset: t}}
    params: {{mutants: false}}
  - name: p
    kind: preferences
    source: {{dataset: l}}
""")
    run_cli("build", str(cfg), "--root", str(tmp_path / "s"), "--allow-rejects")  # rejects on purpose
    reasons = json.loads(run_cli("sql", "select stage, reason, location from t_rejects union all "
                                 "select stage, reason, location from p_rejects order by 1, 2",
                                 "--format", "json", root=tmp_path / "s").stdout)
    assert {(r["stage"], r["reason"]) for r in reasons} == {
        ("testgen", "reference_fails"), ("normalise", "empty_record"), ("pair", "no_pair")}


def test_llm_paths_propose_tests_and_candidates(tmp_path):
    def script(body, count):
        system = body["messages"][0]["content"]
        if "test inputs" in system:
            return Reply(body=completion(body, ["```python\n[([], 0), ([1, -1], 1), ([5], -5)]\n```"]))
        if "unit tests" in system:
            return Reply(body=completion(body, ["```python\nassert below_zero([]) == False\n"
                                                "assert below_zero([-1]) == True\nassert below_zero([1]) == True\n```"]))
        if "below_zero" in body["messages"][-1]["content"]:
            return Reply(body=completion(body, ["```python\ndef below_zero(operations):\n    return False\n```",
                                                "```python\ndef below_zero(operations):\n    s = 0\n    for op in operations:\n"
                                                "        s += op\n        if s < 0:\n            return True\n    return False\n```"]))
        return echo(body, count)

    rec = humaneval()[3]
    src = tmp_path / "p.jsonl"
    src.write_text(json.dumps(rec) + "\n")
    with FakeOpenAI(script) as server:
        llm = f"{{base_url: {server.base_url}, model: m, n: 2, batch_retries: 0, max_retries: 0}}"
        cfg = tmp_path / "c.yaml"
        cfg.write_text(f"""
defaults:
  llm: {llm}
datasets:
  - name: t
    kind: tests
    source: {{path: {src}, fields: {{id: task_id, prompt: prompt, solution: "{{prompt}}{{canonical_solution}}", tests: test, entry_point: entry_point}}}}
    params: {{pool_size: 12, max_mutants: 10}}
  - name: l
    kind: labels
    source: {{dataset: t}}
    params: {{llm_samples: 1, mutants: false}}
""")
        run_cli("build", str(cfg), "--root", str(tmp_path / "s"))
    (suite,) = _rows(tmp_path / "s", "t")
    t_manifest = json.loads(run_cli("show", "t", root=tmp_path / "s").stdout)
    # the script answers one choice where n=2 asks for two: each prompt's second choice is a
    # request of its own (2 prompts x 2 choices)
    usage = t_manifest["llm"]["stages"]["llm"]
    assert usage["requests_sent"] == 4 and usage["choices"].startswith("one request per choice")
    assert json.loads(suite["dropped_inputs"]).get("llm_assert_fails_reference") == 1  # [1] is not below zero
    # what the model proposed and was not used is kept with its text and why
    failed = {(f["kind"], f["text"], f["reason"]) for f in suite["llm_failures"]}
    assert ("assert", "assert below_zero([1]) == True", "llm_assert_fails_reference") in failed
    # the proposed inputs take two arguments where below_zero takes one: all kept, with the reason
    inputs = {(f["text"], f["reason"]) for f in suite["llm_failures"] if f["kind"] == "input"}
    assert inputs == {("([], 0)", "llm_input_outside_contract"), ("([1, -1], 1)", "llm_input_outside_contract"),
                      ("([5], -5)", "llm_input_outside_contract")}
    labels = _rows(tmp_path / "s", "l")
    llm = sorted((r["label"], r["origin"]) for r in labels if r["origin"] == "llm")
    assert llm == [(False, "llm"), (True, "llm")]  # the wrong sample fails, the right one passes


def test_a_problem_over_the_size_cap_is_a_too_large_reject():
    from codekiln.transforms.execution import SandboxConfig
    from codekiln.transforms.stage import Reject
    from codekiln.transforms.testgen.beam import SuiteFn

    fn = SuiteFn(TestgenParams(max_problem_chars=200), SandboxConfig(pool_size=1, cache=False), None)
    fn.setup()
    try:
        big = {"id": "x", "source_id": "big/0", "prompt": "", "entry_point": "f", "tests": [],
               "tests_kind": "none", "solution": "def f(x):\n" + "    x += 1\n" * 40 + "    return x\n"}
        (out,) = fn([big])
    finally:
        fn.teardown()
    assert isinstance(out, Reject) and out.reason == "too_large" and "max_problem_chars 200" in out.detail
