import pyarrow as pa
import pytest
from codekiln.schemas import REJECT_SCHEMA, SCHEMAS, content_id, get_schema, schema_to_json


def test_content_id_is_stable_and_sensitive_to_every_part():
    a = content_id("problems", "humaneval", "HumanEval/0")
    assert a == content_id("problems", "humaneval", "HumanEval/0")
    assert len(a) == 16 and int(a, 16) >= 0
    assert a != content_id("problems", "humaneval", "HumanEval/1")
    assert a != content_id("lintseq", "humaneval", "HumanEval/0")
    assert content_id("x", {"b": 1, "a": 2}) == content_id("x", {"a": 2, "b": 1})


def test_every_kind_has_an_id_column_and_validates_rows():
    for kind, schema in SCHEMAS.items():
        assert schema.arrow.field("id").type == pa.string(), kind
        with pytest.raises(ValueError):
            schema.validate_row({"id": "x"})


def test_problem_row_round_trips_through_arrow():
    row = {"id": "1", "source": "s", "source_id": "a", "domain": "code", "prompt": "p",
           "solution": None, "answer": None, "entry_point": "f", "tests": ["assert f() == 1"],
           "tests_kind": "asserts", "metadata": None}
    get_schema("problems").validate_row(row)
    assert pa.Table.from_pylist([row], schema=get_schema("problems").arrow).to_pylist() == [row]


def test_reject_schema_and_unknown_kind():
    assert REJECT_SCHEMA.names == ["stage", "reason", "source", "location", "detail", "payload"]
    assert schema_to_json(REJECT_SCHEMA)[0] == {"name": "stage", "type": "string", "nullable": False}
    with pytest.raises(KeyError, match="no schema for kind"):
        get_schema("nope")
