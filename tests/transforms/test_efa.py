"""EFA synthesis: the contract checks, the unit tests in order, variants that re-compute, the
model path against the loopback server."""

import ast
import json
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from pipelines.store import Store
from tests.conftest import REPO, run_cli
from tests.llm_server import FakeOpenAI, Reply, completion
from transforms.efa.contract import Invalid, extract
from transforms.efa.validate import answers_match, recompute
from transforms.execution import SandboxConfig, SandboxPool

SAMPLES = REPO / "configs" / "samples"
sys.path.insert(0, str(REPO))


def _rows(root: Path, name: str) -> list[dict]:
    store = Store(str(root))
    return [r for f in store.files(store.resolve(name)) for r in pq.read_table(f).to_pylist()]


def test_extraction_and_answer_matching():
    ok = "```python\nclass Problem:\n    def __init__(self, **p): pass\n    @classmethod\n    def original(cls): pass\n" \
         "    @classmethod\n    def sample(cls, rng): pass\n    def render(self): pass\n    def solve(self): pass\n```"
    assert "class Problem" in extract(ok)
    for text, words in [("no code at all", "syntax error"), ("```python\nclass Other:\n    pass\n```", "no class"),
                        (ok.replace("import", "").replace("class Problem:", "import os\nclass Problem:"), "imports 'os'"),
                        (ok.replace("    def solve(self): pass\n", ""), "lacks solve")]:
        with pytest.raises(Invalid) as e:
            extract(text)
        assert e.value.test == "is_extractable" and words in e.value.reason
    assert answers_match("\\frac{14}{3}", "\\frac{14}{3}") and answers_match("3\\sqrt{13}", "3 \\sqrt{13}")
    assert answers_match("18", "18") and not answers_match("9", "8")


@pytest.fixture(scope="module")
def demo_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("efa")
    run_cli("build", "configs/demo.yaml", "--only", "efas", "--only", "efa-variants", "--root", str(root))
    return root


def test_each_hand_written_candidate_fails_where_it_should(demo_root):
    efas = _rows(demo_root, "efas")
    outcome = {}
    for r in efas:
        outcome.setdefault(r["seed_id"], []).append((r["candidate_index"], r["valid"], r["failed_test"]))
    assert sorted(outcome["test/number_theory/572.json"]) == [
        (0, True, None), (1, False, "matches_original"), (2, False, "has_dof"), (3, False, "is_single_valued")]
    assert sorted(outcome["test/algebra/2036.json"]) == [(0, True, None), (1, False, "is_executable")]
    assert sorted(outcome["gsm8k/test/0"]) == [(0, True, None), (1, False, "is_extractable")]
    for r in efas:  # tests stop at the first failure, each recorded
        names = [t["name"] for t in r["tests"]]
        assert names == ["is_extractable", "is_executable", "has_dof", "is_single_valued", "matches_original"][:len(names)]
        assert all(t["passed"] for t in r["tests"][:-1]) and r["tests"][-1]["passed"] == r["valid"]
    funnel = json.loads(run_cli("show", "efas", root=demo_root).stdout)["quality"]["funnel"][0]
    assert funnel == {"candidates": 9, "is_extractable": 8, "is_executable": 7, "has_dof": 6,
                      "is_single_valued": 5, "matches_original": 4}


def test_every_variant_recomputes_in_a_fresh_sandbox(demo_root):
    efas = {r["id"]: r for r in _rows(demo_root, "efas")}
    variants = _rows(demo_root, "efa-variants")
    assert len(variants) == 4 * 16 and {v["efa_id"] for v in variants} == {i for i, r in efas.items() if r["valid"]}
    tasks = [recompute(efas[v["efa_id"]]["program"], v["sample_seed"]) for v in variants]
    with SandboxPool(SandboxConfig(cache=False, packages=("sympy", "mpmath"))) as pool:
        results = pool.run_many(tasks)
    for v, r in zip(variants, results, strict=True):
        assert r.passed, r
        assert json.loads(ast.literal_eval(r.tests[0]["value"])) == [v["answer"], v["answer_latex"]]


VALID_DIVISORS = '''```python
class Problem:
    def __init__(self, n):
        self.n = n

    @classmethod
    def original(cls):
        return cls(196)

    @classmethod
    def sample(cls, rng):
        return cls(rng.randint(12, 500))

    def render(self):
        return f"How many positive whole-number divisors does {self.n} have?"

    def solve(self):
        return sum(1 for d in range(1, self.n + 1) if self.n % d == 0)
```'''


def test_model_candidates_through_the_llm_stage(tmp_path):
    def script(body, count):
        user = body["messages"][-1]["content"]
        if "divisors does 196" in user:
            texts = [VALID_DIVISORS, VALID_DIVISORS.replace("range(1, self.n + 1)", "range(2, self.n + 1)")]
        elif "$f(x) = \\frac{3x-2}{x-2}$" in user:
            texts = [VALID_DIVISORS.replace("return cls(rng.randint(12, 500))", "return cls(196)"),
                     "I would define a class, but here is prose instead."]
        elif "ducks" in user:
            texts = [VALID_DIVISORS.replace("def render(self):\n        return", "def render(self):\n        return 1 / 0 or")]
        else:
            texts = ["Sorry, I cannot help with that."]
        return Reply(body=completion(body, texts))

    with FakeOpenAI(script) as server:
        sets = [f"llm.base_url={server.base_url}", "llm.model=m", "llm.n=2", "llm.batch_retries=0",
                f"efas-math500.sources.0.path={SAMPLES / 'math500.jsonl'}",
                f"efas-math500.sources.1.path={SAMPLES / 'gsm8k.jsonl'}"]
        args = ["build", "configs/efa-math500.yaml", "--root", str(tmp_path)]
        for s in sets:
            args += ["--set", s]
        run_cli(*args)
        requests = len(server.requests)
    assert requests == 30 + 20  # one request per seed, n=2 choices each
    efas = _rows(tmp_path, "efas-math500")
    assert len(efas) == 50 + 2  # one choice per reply, two for the two scripted seeds
    by_seed = {}
    for r in efas:
        by_seed.setdefault(r["seed_id"], []).append(r)
    div = sorted((r["valid"], r["failed_test"]) for r in by_seed["test/number_theory/572.json"])
    assert div == [(False, "matches_original"), (True, None)]
    f = sorted(str(r["failed_test"]) for r in by_seed["test/algebra/2584.json"])
    assert f == ["has_dof", "is_extractable"]
    assert all(r["prompt_hash"] and r["origin"] == "llm" for r in efas)
    manifest = json.loads(run_cli("show", "efas-math500", root=tmp_path).stdout)
    by_source = {row["source"]: row for row in manifest["quality"]["funnel_by_source"]}
    assert by_source["math500"]["candidates"] == 32 and by_source["gsm8k"]["candidates"] == 20
    assert by_source["math500"]["matches_original"] == 1
    assert manifest["llm"]["stages"]["llm"]["requests_sent"] == 50
    variants = _rows(tmp_path, "efa-variants-math500")
    assert {v["seed_id"] for v in variants} == {"test/number_theory/572.json"}
    assert len(variants) + variants[0]["duplicates_dropped"] == 16  # duplicate renders dropped, counted
    assert len({v["problem"] for v in variants}) == len(variants)


FORGED_EFA = '''
class Problem:
    def __init__(self, a=1):
        self.a = a

    @classmethod
    def original(cls):
        os, sys = __import__("os"), __import__("sys")  # past the contract's import check
        f = sys._getframe(1)
        while f is not None and "nonce" not in f.f_locals:
            f = f.f_back
        if f is not None:  # report a pass without a value, then a value of the wrong shape
            os.write(f.f_locals["chan"], (f.f_locals["nonce"] + ' V 0 ["zz"]\\n').encode())
            os.write(f.f_locals["chan"], (f.f_locals["nonce"] + " P \\n" + f.f_locals["nonce"] + " D \\n").encode())
            os._exit(0)
        return cls()

    @classmethod
    def sample(cls, rng):
        return cls(rng.randint(1, 9))

    def render(self):
        return f"What is {self.a} + 1?"

    def solve(self):
        return self.a + 1
'''


def test_a_candidate_that_forges_its_results_fails_alone():
    from transforms.efa.validate import Candidate, validate

    honest = FORGED_EFA.replace("f = sys._getframe(1)", "f = None")
    assert honest != FORGED_EFA
    with SandboxPool(SandboxConfig(pool_size=1, cache=False, packages=("sympy", "mpmath"))) as pool:
        forged, good = validate([Candidate("s1", "2", FORGED_EFA), Candidate("s2", "2", honest)], pool.run_many, k=4)
    assert not forged.valid and forged.failed_test == "is_executable", forged.tests
    assert good.valid, good.tests
