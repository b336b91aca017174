"""EFA synthesis: the contract checks, the unit tests in order, variants that re-compute, the
model path against the loopback server."""

import ast
import json
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from codekiln.pipelines.storage.store import Store
from codekiln.transforms.efa.contract import Invalid, extract
from codekiln.transforms.efa.validate import answers_match, recompute
from codekiln.transforms.execution import SandboxConfig, SandboxPool

from tests.conftest import REPO, run_cli
from tests.llm_server import FakeOpenAI, Reply, completion

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
        return Reply(body=completion(body, (texts * 2)[:body.get("n", 1)]))  # a server that honours n

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
    assert len(efas) == 2 * 50  # every choice is a candidate row
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
    assert by_source["math500"]["candidates"] == 60 and by_source["gsm8k"]["candidates"] == 40
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
    from codekiln.transforms.efa.validate import Candidate, validate

    honest = FORGED_EFA.replace("f = sys._getframe(1)", "f = None")
    assert honest != FORGED_EFA
    with SandboxPool(SandboxConfig(pool_size=1, cache=False, packages=("sympy", "mpmath"))) as pool:
        forged, good = validate([Candidate("s1", "2", FORGED_EFA), Candidate("s2", "2", honest)], pool.run_many, k=4)
    assert not forged.valid and forged.failed_test == "is_executable", forged.tests
    assert good.valid, good.tests


# --- limits: sizes and work budgets give rejects, never verdicts; matching works from any thread


def test_answer_matching_works_from_any_thread_and_its_work_does_not_depend_on_history():
    from concurrent.futures import ThreadPoolExecutor

    from codekiln.transforms.efa.matching import AnswerMatcher

    pairs = [("\\frac{14}{3}", "\\frac{14}{3}"), ("3\\sqrt{13}", "3 \\sqrt{13}"), ("18", "18"), ("9", "8"),
             ("\\frac{1}{3}", "0.3333333333333333"), ("\\sqrt{2}+\\sqrt{3}", "\\sqrt{5+2\\sqrt{6}}")]
    with AnswerMatcher() as a, AnswerMatcher() as b, ThreadPoolExecutor(4) as pool:
        got = list(pool.map(lambda p: answers_match(*p), pairs * 2))  # the process's matcher, off the main thread
        assert got == [True, True, True, False, True, True] * 2
        calls = []
        for m, order in ((a, pairs), (b, pairs[::-1])):  # other requests before: the same count
            counts = {}
            for g, p in order:
                m.match(g, p)
                counts[g, p] = m.last_calls
            calls.append(counts)
        assert calls[0] == calls[1]


def test_answer_limits_are_not_verdicts():
    from codekiln.transforms.efa.matching import MAX_ANSWER_CHARS, AnswerLimit, AnswerMatcher

    with pytest.raises(AnswerLimit) as e:
        answers_match("1", "1" * (MAX_ANSWER_CHARS + 1))
    assert e.value.reason == "too_large"
    with AnswerMatcher(max_calls=2000) as m:  # the deterministic budget
        assert m.match("18", "18")
        with pytest.raises(AnswerLimit) as over:
            m.match("\\sqrt{2}+\\sqrt{3}", "\\sqrt{5+2\\sqrt{6}}")
        assert over.value.reason == "budget_exceeded"
    assert over.value.detail == ("comparing '\\\\sqrt{5+2\\\\sqrt{6}}' with '\\\\sqrt{2}+\\\\sqrt{3}' exceeded the "
                                 "budget of 2,000 Python calls (60 s of CPU, 1024 MB)")
    with AnswerMatcher(cpu_s=1) as m:  # the backstop: one C-level operation the count cannot see
        with pytest.raises(AnswerLimit) as backstop:
            m.match("1", "10^{10^{10}}")
        assert m.match("18", "18")  # the server lives on
    # the same text whichever limit ran out: the reject does not depend on which one a machine hits first
    assert backstop.value.reason == "budget_exceeded"
    assert backstop.value.detail == ("comparing '10^{10^{10}}' with '1' exceeded the budget of 5,000,000 Python calls "
                                     "(1 s of CPU, 1024 MB)")


DIVISORS = "return sum(1 for d in range(1, self.n + 1) if self.n % d == 0)"
SLOW = VALID_DIVISORS.replace("def render(self):\n", "def render(self):\n        sum(1 for _ in range(20000))\n")
CAUGHT = VALID_DIVISORS.replace(DIVISORS, "try:\n            sum(i for i in range(10**5))\n        except BaseException:\n"
                                          "            pass\n        " + DIVISORS)
HANGS = VALID_DIVISORS.replace("return cls(rng.randint(12, 500))",
                               "__import__('time').sleep(30)\n        return cls(rng.randint(12, 500))")
BIG_ANSWER = VALID_DIVISORS.replace(DIVISORS, "return self.n ** 500")


def test_candidates_past_a_limit_get_no_verdict_from_any_thread():
    from concurrent.futures import ThreadPoolExecutor

    from codekiln.transforms.efa.matching import AnswerMatcher
    from codekiln.transforms.efa.validate import (
        MAX_RESPONSE_CHARS,
        Candidate,
        Limit,
        Verdict,
        validate,
    )

    cands = [Candidate("s", "9", VALID_DIVISORS), Candidate("s", "9", SLOW), Candidate("s", "9", CAUGHT),
             Candidate("s", "9", HANGS), Candidate("s", "9", VALID_DIVISORS + "#" * MAX_RESPONSE_CHARS),
             Candidate("s", "9", BIG_ANSWER)]
    with SandboxPool(SandboxConfig(cache=False, packages=("sympy", "mpmath"))) as pool, \
            AnswerMatcher() as matcher, ThreadPoolExecutor(1) as thread:
        out = thread.submit(validate, cands, pool.run_many, 4, 4.0, matcher.match, 200_000).result()
    valid, slow, caught, hangs, big, big_answer = out
    assert isinstance(valid, Verdict) and valid.valid, valid  # off the main thread, math-verify included
    assert all(isinstance(x, Limit) for x in out[1:]), out
    assert [x.reason for x in out[1:]] == ["budget_exceeded"] * 3 + ["too_large"] * 2
    # counted steps (even when the program catches the budget's exception) and the wall-clock
    # backstop give the same text: which one ran out does not show in the reject
    assert slow.detail == "has_dof: over the budget of 200,000 steps per test (4 s)"
    assert caught.detail == hangs.detail == "is_executable: over the budget of 200,000 steps per test (4 s)"
    assert big.detail.startswith("the candidate has ")
    assert big_answer.detail == "matches_original: the candidate's answer has 1147 characters (at most 1000)"


def test_expand_and_variants_cap_their_records():
    from codekiln.transforms.efa.beam import MAX_CANDIDATES, VariantParams, VariantsFn, expand
    from codekiln.transforms.efa.validate import MAX_RESPONSE_CHARS
    from codekiln.transforms.stage import Reject

    seed = {"id": "x", "source_id": "s1", "source": "seeds", "prompt": "?", "answer": "9",
            "metadata": json.dumps({"candidates": [VALID_DIVISORS, "no code"]})}
    rows = list(expand(seed))
    assert [(r["candidate_index"], r["candidate"]["origin"], r["location"]) for r in rows] == [
        (0, "source", "s1 candidate 0"), (1, "source", "s1 candidate 1")]
    for change, reason in [({"answer": ""}, "no_answer"), ({"metadata": "{}"}, "no_candidates"),
                           ({"answer": "1" * 1001}, "too_large"),
                           ({"metadata": json.dumps({"candidates": ["x"] * (MAX_CANDIDATES + 1)})}, "too_large")]:
        with pytest.raises(Reject) as e:
            list(expand(dict(seed, **change)))
        assert e.value.reason == reason

    class NoPool:
        def run_many(self, tasks):
            assert not tasks
            return []

    fn = VariantsFn(VariantParams(), SandboxConfig(), None)
    fn.pool = NoPool()
    out = fn([{"valid": False, "failed_test": "has_dof"}, {"valid": True, "program": "x" * (MAX_RESPONSE_CHARS + 1)},
              {"valid": True, "program": None}])
    assert [r.reason for r in out] == ["invalid_efa", "too_large", "missing_field"]
    with pytest.raises(ValueError):
        VariantParams(variants_per_efa=10**6)
