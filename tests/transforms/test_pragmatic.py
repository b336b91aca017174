"""Pragmatic examples: the DSL, the speaker, the invariant (checked with `re` alone), dominance."""

import random
import re

import numpy as np
import pyarrow.parquet as pq
from codekiln.pipelines.storage.store import Store
from codekiln.transforms.pragmatic.core import (
    Matcher,
    PragmaticParams,
    literal_baseline,
    pragmatic_row,
    speak,
)
from codekiln.transforms.pragmatic.dsl import Part, Program, negative_strings, sample_program

from tests.conftest import run_cli


def test_dsl_prints_as_a_term_and_a_regex():
    prog = Program((Part("class", chars="ab"), Part("rep", inner=Part("lit", chars="c0"), n=1, m=2),
                    Part("opt", inner=Part("class", chars="12")), Part("or", options=("d", "ee"))))
    assert prog.dsl() == "concat(class(ab), rep(lit(c0),1,2), opt(class(12)), or(d,ee))"
    assert prog.regex() == "[ab](?:c0){1,2}[12]?(?:d|ee)"
    rng = random.Random(0)
    for _ in range(200):
        program = sample_program(rng)
        assert 2 <= len(program.parts) <= 6
        s = program.generate(rng)
        assert s is None or (len(s) <= 15 and re.fullmatch(program.regex(), s))
        for neg in negative_strings(program.compiled(), [s] if s else [], 5, rng):
            assert not re.fullmatch(program.regex(), neg)


def test_matcher_agrees_with_fullmatch():
    rng = random.Random(1)
    strings = ["", "a", "ab", "abc", "0", "c0c0", "ddd", "e1"]
    m = Matcher(strings)
    for _ in range(100):
        program = sample_program(rng)
        expected = [bool(re.fullmatch(program.regex(), s)) for s in strings]
        assert m(program).tolist() == expected


def test_speaker_picks_the_most_informative_example():
    # rows: target, then competitors; columns: examples (True = consistent)
    consistent = np.array([[1, 1, 1, 1],
                           [1, 0, 1, 1],
                           [1, 0, 0, 1],
                           [1, 1, 0, 0]], dtype=bool)
    chosen, p, left = speak(consistent, np.arange(4), 10)
    assert chosen[0] == 1 and p[0] == 0.5 and left[0] == 1  # example 1 rules out two at once
    assert p[-1] == 1.0 and left[-1] == 0 and len(chosen) == 2
    base, base_p = literal_baseline(consistent, np.arange(4), 2)
    assert base == [0, 1] and base_p == [0.25, 0.5]


def test_pragmatic_dominates_the_literal_baseline_on_200_targets():
    params = PragmaticParams(competitors=150, examples=150, seed=3)
    rows = [pragmatic_row(i, params) for i in range(200)]

    def mean_at(key, k):
        return np.mean([r[key][min(k, len(r[key])) - 1] for r in rows])

    for k in range(1, 11):
        assert mean_at("p_target", k) >= mean_at("baseline_p_target", k), k
    assert mean_at("p_target", 10) > 2 * mean_at("baseline_p_target", 10)
    for r in rows:  # every example consistent with the target, by `re` alone
        for e in r["examples"] + r["baseline_examples"]:
            assert bool(re.fullmatch(r["regex"], e["text"])) == e["label"]
    assert rows[0] == pragmatic_row(0, params)  # deterministic


def test_demo_pragmatic_rows_are_consistent_and_reported(tmp_path):
    run_cli("build", "configs/demo.yaml", "--only", "pragmatic", "--root", str(tmp_path))
    store = Store(str(tmp_path))
    manifest = store.resolve("pragmatic")
    rows = [r for f in store.files(manifest) for r in pq.read_table(f).to_pylist()]
    assert len(rows) == 40
    for r in rows:
        pattern = re.compile(r["regex"])
        for e in r["examples"] + r["baseline_examples"]:
            assert bool(pattern.fullmatch(e["text"])) == e["label"]
        assert r["p_target"] == sorted(r["p_target"]) and len(r["examples"]) <= 10
    curve = manifest["quality"]["p_target_after_k"]
    assert [c["k"] for c in curve] == list(range(1, 11))
    assert all(c["pragmatic"] >= c["literal_baseline"] for c in curve)


def test_parameters_are_capped():
    import pytest
    from codekiln.transforms.pragmatic.core import MAX_CELLS, MAX_COMPETITORS, MAX_EXAMPLES

    for kw in [{"competitors": MAX_COMPETITORS + 1}, {"examples": MAX_EXAMPLES + 1}, {"alphabet": "ab" * 200},
               {"competitors": MAX_CELLS // 10_000 + 1, "examples": 10_000}]:
        with pytest.raises(ValueError):
            PragmaticParams(**kw)


def test_work_is_counted_the_same_every_time_and_bounded():
    import pytest
    from codekiln.transforms.pragmatic.beam import PragmaticFn
    from codekiln.transforms.pragmatic.core import MAX_WORK, OverBudget, Work

    params = PragmaticParams(competitors=100, examples=100, seed=1)
    counts = []
    for _ in range(2):
        w = Work()
        row = pragmatic_row(5, params, w)
        counts.append(w.units)
    assert counts[0] == counts[1] and 0 < counts[0] < MAX_WORK // 1000
    with pytest.raises(OverBudget):
        pragmatic_row(5, params, Work(limit=counts[0] - 1))
    assert pragmatic_row(5, params, Work(limit=counts[0])) == row  # counting changes nothing

    out = PragmaticFn(params)([{"index": 5}, {"index": "x"}, {"index": -1}, {"index": "9" * 30}, {"index": 2**70},
                               {"index": 5.0}, {"index": True}])
    assert out[0][0]["regex"] == row["regex"] and out[5][0] == out[0][0]
    assert [getattr(o, "reason", None) for o in out] == [None, "bad_index", "bad_index", "too_large", "too_large",
                                                         None, "bad_index"]
    over = PragmaticFn(params, max_work=counts[0] - 1)([{"index": 5}, {"index": 6}])
    assert over[0].reason == "budget_exceeded" and "target 5: more than" in over[0].detail
