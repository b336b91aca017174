import json

import pytest
from codekiln.pipelines.config import FieldSpec, parse
from codekiln.pipelines.mapping import Normaliser, extract, split_tests
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
