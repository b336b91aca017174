import importlib
import pkgutil

import codekiln.schemas
import pyarrow as pa
import pytest
from codekiln.schemas import REJECT_SCHEMA, DatasetSchema, content_id, schema_to_json
from codekiln.schemas.problems import PROBLEMS

# every row schema the package declares, whatever module it is in
SCHEMAS = {s.kind: s for info in pkgutil.iter_modules(codekiln.schemas.__path__)
           for s in vars(importlib.import_module(f"codekiln.schemas.{info.name}")).values()
           if isinstance(s, DatasetSchema)}


def test_content_id_is_stable_and_sensitive_to_every_part():
    a = content_id("problems", "humaneval", "HumanEval/0")
    assert a == content_id("problems", "humaneval", "HumanEval/0")
    assert len(a) == 16 and int(a, 16) >= 0
    assert a != content_id("problems", "humaneval", "HumanEval/1")
    assert a != content_id("lintseq", "humaneval", "HumanEval/0")
    assert content_id("x", {"b": 1, "a": 2}) == content_id("x", {"a": 2, "b": 1})


def test_every_kind_has_an_id_column_and_validates_rows():
    assert {"problems", "lintseq", "tests", "labels", "preferences", "efas"} <= SCHEMAS.keys()
    for kind, schema in SCHEMAS.items():
        assert schema.arrow.field("id").type == pa.string(), kind
        with pytest.raises(ValueError):
            schema.validate_row({"id": "x"})


def test_problem_row_round_trips_through_arrow():
    row = {"id": "1", "source": "s", "source_id": "a", "domain": "code", "prompt": "p",
           "solution": None, "answer": None, "entry_point": "f", "tests": ["assert f() == 1"],
           "tests_kind": "asserts", "metadata": None}
    PROBLEMS.validate_row(row)
    assert pa.Table.from_pylist([row], schema=PROBLEMS.arrow).to_pylist() == [row]


def test_reject_schema():
    assert REJECT_SCHEMA.names == ["stage", "reason", "source", "location", "detail", "payload"]
    assert schema_to_json(REJECT_SCHEMA)[0] == {"name": "stage", "type": "string", "nullable": False}
