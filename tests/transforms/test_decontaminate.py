"""Decontamination against the bundled benchmarks: planted copies are caught with the right item,
renamed and reformatted copies too, unrelated text and code are kept."""

import ast
import gzip
import json
import random
from importlib import resources

import pytest
from codekiln.transforms.decontaminate.beam import DecontaminateFn
from codekiln.transforms.decontaminate.benchmarks import BENCHMARKS, load
from codekiln.transforms.decontaminate.index import DecontaminationParams, get_index
from codekiln.transforms.stage import Reject

from tests.planting import rename_identifiers

ALL = tuple(BENCHMARKS)


def corpus(name: str) -> list[dict]:
    raw = resources.files("codekiln.configs").joinpath("corpora", BENCHMARKS[name].file).read_bytes()
    return [json.loads(line) for line in gzip.decompress(raw).decode().splitlines() if line.strip()]


@pytest.fixture(scope="module")
def index():
    return get_index(DecontaminationParams(benchmarks=ALL))


def test_every_bundled_benchmark_loads_with_its_item_count():
    counts = {name: len({p.item for p in load(name)}) for name in ALL}
    assert counts == {"humaneval": 164, "mbpp": 500, "math500": 500, "gsm8k": 1319}


def test_a_planted_humaneval_problem_is_caught_with_its_item_id(index):
    rng = random.Random(0)
    for item in rng.sample(corpus("humaneval"), 25):
        text = ("Here is some code I found useful last week, reposted for the forum.\n\n"
                + item["prompt"] + item["canonical_solution"] + "\n\nHope it helps, cheers.")
        m = index.check({"text": text})
        assert m is not None and (m.benchmark, m.item) == ("humaneval", item["task_id"]), item["task_id"]
        assert m.rule == "substring"  # the span is the text's own (long ones keep their two ends)
        assert all(part in text for part in m.span.split(" … ")), m.span


def test_a_renamed_variable_copy_is_caught_by_the_ngram_rule(index):
    """The solution alone, every bound name renamed, inside other text: no substring survives,
    the n-grams of the code with identifiers abstracted do."""
    caught = checked = 0
    for item in corpus("humaneval"):
        tree = ast.parse(item["prompt"] + item["canonical_solution"])
        fn = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == item["entry_point"])
        body = "def solve(" + ", ".join(a.arg for a in fn.args.args) + "):\n" + item["canonical_solution"]
        renamed = rename_identifiers(body)
        assert renamed != body
        pieces = [pid for pid in index.code.totals if index.pieces[pid].item == item["task_id"]]
        if not pieces:  # a one-line solution is too short to be evidence with its names abstracted
            continue
        checked += 1
        m = index.check({"completion": "Sure! Here is my solution:\n\n" + renamed + "\nLet me know."})
        assert m is not None and m.rule == "code_ngram", item["task_id"]
        caught += (m.benchmark, m.item) == ("humaneval", item["task_id"])
    assert checked > 140 and caught == checked


@pytest.mark.parametrize("name, prompt_field", [("mbpp", "text"), ("gsm8k", "question"), ("math500", "problem")])
def test_reformatted_prose_inside_longer_text_is_caught(index, name, prompt_field):
    """Case, spacing, line breaks and punctuation changed; pasted in the middle of a document."""
    rng = random.Random(1)
    items = corpus(name)
    for i in rng.sample(range(len(items)), 10):
        words = items[i][prompt_field].split()
        mangled = "\n".join(" ".join(words[k:k + 5]).upper() for k in range(0, len(words), 5))
        m = index.check({"prompt": "Question of the day (from my notes).\n" + mangled.replace(",", " ;") + "\nGood luck!"})
        assert m is not None and m.benchmark == name, (name, i)
        if name == "gsm8k":
            assert m.item == f"gsm8k/test/{i}"
        elif name == "mbpp":
            assert m.item == f"mbpp/{items[i]['task_id']}"


def test_unrelated_programs_and_text_are_kept(index):
    """No benchmark holds another's items: each one checked against the other three is clean,
    and so are hand-written programs."""
    for name in ALL:
        others = get_index(DecontaminationParams(benchmarks=tuple(b for b in ALL if b != name)))
        for piece in load(name):
            assert others.check({"x": piece.text}) is None, (name, piece.item, piece.part)
    for program in ("def running_max(values):\n    out, best = [], None\n    for v in values:\n"
                    "        best = v if best is None or v > best else best\n        out.append(best)\n    return out\n",
                    "def hms(seconds):\n    hours, rest = divmod(int(seconds), 3600)\n"
                    "    minutes, secs = divmod(rest, 60)\n    return f'{hours}:{minutes:02d}:{secs:02d}'\n"):
        assert index.check({"program": program}) is None


def test_the_stage_function_rejects_with_benchmark_item_and_span():
    params = DecontaminationParams(benchmarks=("mbpp",))
    fn = DecontaminateFn(params, ("prompt", "chosen"))
    fn.setup()
    item = corpus("mbpp")[0]
    clean = {"id": "a", "prompt": "Write a function that squeezes repeated letters.", "chosen": "def f(s):\n    return s\n"}
    assert list(fn(clean)) == [clean]
    dirty = dict(clean, chosen=[{"role": "assistant", "content": "Task: " + item["text"]}])  # conversational
    with pytest.raises(Reject) as e:
        list(fn(dirty))
    assert e.value.reason == "contaminated"
    assert e.value.detail.startswith(f"mbpp:mbpp/{item['task_id']} prompt, exact normalised substring, in field 'chosen'")
    huge = DecontaminateFn(DecontaminationParams(benchmarks=("mbpp",), max_chars=100), ("prompt",))
    huge.setup()
    with pytest.raises(Reject) as e:
        list(huge({"id": "b", "prompt": "x " * 100}))
    assert e.value.reason == "too_large_to_check"


def test_the_index_is_built_once_per_process():
    a = get_index(DecontaminationParams(benchmarks=("gsm8k",)))
    b = get_index(DecontaminationParams(benchmarks=("gsm8k",), fields=("prompt",)))
    assert a is b
