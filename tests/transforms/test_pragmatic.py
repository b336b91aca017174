"""Pragmatic examples: the DSL, the speaker, the invariant (checked with `re` alone), dominance."""

import random
import re

import numpy as np
import pyarrow.parquet as pq

from pipelines.store import Store
from tests.conftest import run_cli
from transforms.pragmatic.core import (
    Matcher,
    PragmaticParams,
    literal_baseline,
    pragmatic_row,
    speak,
)
from transforms.pragmatic.dsl import Part, Program, negative_strings, sample_program


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
