import json
import re

import pytest
from codekiln.pipelines.building.mapping import Normaliser, extract, split_tests
from codekiln.pipelines.config import FieldSpec, parse
from codekiln.transforms.stage import Reject

from tests.conftest import HUMANEVAL_FIELDS, SAMPLES, humaneval


def _normaliser(fields, **source):
    doc = {"name": "p", "kind": "problems",
           "source": {"name": "s", "path": str(SAMPLES / "humaneval.jsonl"), "fields": fields, **source}}
    (cfg,) = parse(doc, str(SAMPLES))
    return Normaliser(cfg.sources)


def _env(data, index=1):
    return {"source_name": "s", "source": "f.jsonl", "location": f"line {index}",
            "file_index": 0, "index": index, "data": data}


def test_humaneval_record_becomes_a_canonical_code_problem():
    rec = humaneval(1)[0]
    (row,) = _normaliser(HUMANEVAL_FIELDS)(_env(rec))
    assert row["source_id"] == "HumanEval/0" and row["domain"] == "code"
    assert row["prompt"] == rec["prompt"] and row["solution"] == rec["canonical_solution"]
    assert row["entry_point"] == "has_close_elements"
    assert row["tests_kind"] == "check_function" and row["tests"] == [rec["test"]]
    again = list(_normaliser(HUMANEVAL_FIELDS)(_env(rec, index=9)))[0]
    assert again["id"] == row["id"]  # ids depend on content, not position


def test_templates_markers_constants_and_metadata():
    n = _normaliser({"prompt": "Q: {question}", "solution": {"from": "answer", "before": "####"},
                     "answer": {"from": "answer", "after": "####"}, "entry_point": {"value": "f"}},
                    metadata="*")
    (row,) = n(_env({"question": "2+2?", "answer": "It is 2+2.\n#### 4", "extra": [1]}))
    assert row["prompt"] == "Q: 2+2?" and row["solution"] == "It is 2+2." and row["answer"] == "4"
    assert row["entry_point"] == "f" and json.loads(row["metadata"]) == {"extra": [1]}
    assert row["source_id"].startswith("sha256:")  # no id field: derived from content


@pytest.mark.parametrize("data, reason", [
    ({"task_id": "a"}, "missing_field"),
    ({"task_id": "a", "prompt": 3, "canonical_solution": "x", "test": "", "entry_point": "f"}, "wrong_type"),
    ({"task_id": "a", "prompt": "p", "canonical_solution": "x", "test": "", "entry_point": "not valid"}, "wrong_type"),
    ({"task_id": "a", "prompt": "", "canonical_solution": " ", "test": "", "entry_point": "f"}, "empty_record"),
    ({"task_id": "a", "prompt": "p", "canonical_solution": "x", "test": "def check(:", "entry_point": "f"}, "tests_syntax_error"),
    ({"task_id": "a", "prompt": "p", "canonical_solution": "x", "test": "print(1)", "entry_point": "f"}, "unsupported_tests"),
    ({"task_id": "a", "prompt": "p", "canonical_solution": "x", "test": [1], "entry_point": "f"}, "wrong_type"),
])
def test_unusable_records_are_rejected_with_a_reason(data, reason):
    with pytest.raises(Reject) as e:
        list(_normaliser(HUMANEVAL_FIELDS)(_env(data)))
    assert e.value.reason == reason


def test_split_tests_forms():
    assert split_tests(None) == ([], "none")
    assert split_tests(["assert f(1) == 2"]) == (["assert f(1) == 2"], "asserts")
    assert split_tests("assert f(1) == 2\nassert f(2) == 3\n") == (["assert f(1) == 2", "assert f(2) == 3"], "asserts")


def test_extract_marker_missing():
    with pytest.raises(Reject, match="missing_marker"):
        extract({"a": "no marker"}, FieldSpec(from_="a", after="####"), "answer")


def test_mbpp_maps_without_a_script(tmp_path):
    """configs/mbpp.yaml: list indexing, a regex extract and a template over a list."""
    from tests.conftest import run_cli

    run_cli("build", "configs/mbpp.yaml", "--root", str(tmp_path))
    rows = json.loads(run_cli("sql", "select source_id, prompt, solution, entry_point, tests, tests_kind from mbpp",
                              "--format", "json", root=tmp_path).stdout)
    assert len(rows) == 500
    for r in rows:
        assert re.search(rf"def {r['entry_point']}\s*\(", r["solution"])  # the function the asserts call
        assert r["tests_kind"] == "asserts" and r["tests"][0].startswith(f"assert {r['entry_point']}")
        assert r["prompt"].endswith("\n".join(r["tests"]))  # the list rendered as its lines
    first = next(r for r in rows if r["source_id"] == "11")
    assert first["entry_point"] == "remove_Occ"


def test_paths_index_lists_and_regexes_extract():
    from codekiln.pipelines.building.mapping import extract
    from codekiln.pipelines.config import FieldSpec

    data = {"t": ["assert f(1) == 2", "assert g(3) == 4"], "n": {"xs": [10, 20], "ys": [{"k": "v"}]}, "e": []}
    assert extract(data, FieldSpec(from_="t.1"), "x") == "assert g(3) == 4"
    assert extract(data, FieldSpec(from_="t.-1"), "x") == "assert g(3) == 4"
    assert extract(data, FieldSpec(from_="n.xs.0"), "x") == 10
    assert extract(data, FieldSpec(from_="t.0", regex=r"assert (\w+)\("), "x") == "f"
    assert extract(data, FieldSpec(from_="t.0", regex=r"== \d"), "x") == "== 2"  # no group: the match
    assert extract(data, FieldSpec(template="{t.0}!"), "x") == "assert f(1) == 2!"
    assert extract(data, FieldSpec(template="{n.ys.-1.k}"), "x") == "v"
    assert extract(data, FieldSpec(template="{{literal}} {t.-1}"), "x") == "{literal} assert g(3) == 4"
    assert extract(data, FieldSpec(template="tests:\n{t}"), "x") == "tests:\nassert f(1) == 2\nassert g(3) == 4"
    for spec, reason in [(FieldSpec(from_="t.2"), "missing_field"), (FieldSpec(from_="t.x"), "missing_field"),
                         (FieldSpec(from_="t.0", regex=r"zzz(\d)"), "no_match"),
                         (FieldSpec(template="{n}"), "wrong_type"), (FieldSpec(template="{n.xs.0}{t.5}"), "missing_field"),
                         (FieldSpec(from_="t.0", regex=r"assert (z)?"), "no_match"),
                         (FieldSpec(template="{e}"), "missing_field")]:
        with pytest.raises(Reject) as e:
            extract(data, spec, "x")
        assert e.value.reason == reason, spec
