"""PLUM over all 164 HumanEval problems, built with the CLI:

- the same config, inputs and seed give the same `tests` rows however busy the machine is,
  whatever the hash seed and the runner mode, with the execution cache off (no clock in a row;
  checked on every 12th problem, rebuilt on a loaded machine);
- no surface feature of the pairs (layout, comments, `ast.unparse` form, a restated prompt,
  length) tells chosen from rejected: a trivial classifier stays at chance;
- in the standard format `prompt + chosen` is the program that was judged.
"""

import gzip
import json
import multiprocessing
import os

import pyarrow.parquet as pq
import pytest
import yaml
from codekiln.pipelines.storage.store import Store
from codekiln.transforms.preferences.surface import separability

from tests.conftest import REPO, run_cli

HUMANEVAL = REPO / "configs" / "corpora" / "humaneval.jsonl.gz"


def _burn(stop):
    x = 0
    while not stop.is_set():
        x = (x * 31 + 7) % 1_000_003


def _config(path, source=HUMANEVAL, **beam) -> str:
    doc = {"defaults": {"license": "mit", "sandbox": {"cache": False}, "beam": beam},
           "datasets": [
               {"name": "tests", "kind": "tests",
                "source": {"name": "humaneval", "path": str(source), "license": "mit", "domain": "code",
                           "fields": {"id": "task_id", "prompt": "prompt", "solution": "{prompt}{canonical_solution}",
                                      "tests": "test", "entry_point": "entry_point"}},
                "params": {"pool_size": 40, "max_mutants": 20, "heldout_mutants": 10, "seed": 3}},
               {"name": "labels", "kind": "labels", "source": {"dataset": "tests"},
                "params": {"max_candidates": 8, "fuzz_inputs": 40, "seed": 3}},
               {"name": "preferences", "kind": "preferences", "source": {"dataset": "labels"},
                "params": {"max_pairs_per_prompt": 4}}]}
    path.write_text(yaml.safe_dump(doc))
    return str(path)


def _manifest(root, name="tests") -> dict:
    return json.loads(run_cli("show", name, root=root).stdout)


def _rows(root, name) -> list[dict]:
    store = Store(str(root))
    return [r for f in store.files(store.resolve(name)) for r in pq.read_table(f).to_pylist()]


@pytest.fixture(scope="module")
def idle(tmp_path_factory):
    """All three datasets, built on an idle machine with one hash seed."""
    root = tmp_path_factory.mktemp("idle")
    run_cli("build", _config(root / "c.yaml"), "--root", str(root / "s"), "-q",
            env=dict(os.environ, PYTHONHASHSEED="1"))
    return root / "s"


def test_tests_are_the_same_on_an_idle_and_a_loaded_machine(idle, tmp_path):
    """A problem's suite depends on that problem only, so every 12th problem rebuilt on a machine
    with three busy loops on its two cores, in separate worker processes, under another hash
    seed, must give exactly the rows the idle build gave those problems."""
    with gzip.open(HUMANEVAL, "rt") as f:
        records = [json.loads(line) for line in f][::12]
    subset = tmp_path / "subset.jsonl"
    subset.write_text("".join(json.dumps(r) + "\n" for r in records))
    stop = multiprocessing.Event()
    burners = [multiprocessing.Process(target=_burn, args=(stop,)) for _ in range(3)]  # 3 busy loops, 2 cores
    for b in burners:
        b.start()
    try:
        run_cli("build", _config(tmp_path / "b.yaml", subset, workers=2, mode="multi_processing"), "--only", "tests",
                "--root", str(tmp_path / "b"), "-q", env=dict(os.environ, PYTHONHASHSEED="98765"))
    finally:
        stop.set()
        for b in burners:
            b.join()
    assert _manifest(idle)["splits"]["train"]["rows"] == 164
    idle_rows = {r["id"]: r for r in _rows(idle, "tests")}
    loaded = _rows(tmp_path / "b", "tests")
    assert len(loaded) == len(records) == 14
    for row in loaded:
        assert row == idle_rows[row["id"]], row["problem_id"]


def test_no_surface_feature_separates_chosen_from_rejected(idle):
    labels = {r["id"]: r for r in _rows(idle, "labels")}
    by_completion = {(r["problem_id"], r["completion"]): r for r in labels.values()}
    prefs = _rows(idle, "preferences")
    assert len(prefs) > 300
    pairs = []
    for p in prefs:
        c, r = by_completion[(p["problem_id"], p["chosen"])], by_completion[(p["problem_id"], p["rejected"])]
        pairs.append({"id": p["id"], "problem_id": p["problem_id"], "chosen": p["chosen"], "rejected": p["rejected"],
                      "prompt_text": p["prompt"], "chosen_program": c["program"], "rejected_program": r["program"]})
        assert p["prompt"] + p["chosen"] == c["program"] and p["prompt"] + p["rejected"] == r["program"]
        assert "\r" not in p["chosen"] + p["rejected"] and not p["chosen"].startswith(p["prompt"])
    acc = separability(pairs)
    assert acc["logistic"] <= 0.55 and acc["stump"] <= 0.55, acc


def test_figures_that_can_fail_are_in_the_manifests(idle):
    tests = _manifest(idle)["quality"]
    assert 0 < tests["mutation_score"][0]["heldout_mean"] <= 1  # on mutants the reduction never saw
    assert tests["mutants"][0]["equivalent"] > 0 and tests["tests_per_problem"][0]["min"] >= 1
    labels = _manifest(idle, "labels")["quality"]
    oracle = labels["oracle"][0]
    assert oracle["candidates"] == _manifest(idle, "labels")["splits"]["train"]["rows"]
    assert {r["oracle"] for r in labels["decided_by"]} >= {"accepted", "suite"}
    prefs = _manifest(idle, "preferences")["quality"]
    assert prefs["chosen_not_reference"][0]["pairs"] > 0
