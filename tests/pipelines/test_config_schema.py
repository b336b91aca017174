"""The published JSON Schema of config files: current, valid, and agreeing with the validator."""

import copy
import json

import jsonschema
import pytest
import yaml
from codekiln.pipelines.config import ConfigError, parse
from codekiln.pipelines.config.schema import config_schema, schema_json
from codekiln.pipelines.kinds import KINDS

from tests.conftest import REPO, run_cli

CONFIGS = sorted((REPO / "configs").glob("*.yaml"))


@pytest.fixture(scope="module")
def validator():
    schema = config_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def test_the_committed_schema_is_the_generated_one():
    committed = (REPO / "configs" / "codekiln.schema.json").read_text()
    assert committed == schema_json(), "regenerate: codekiln schema -o configs/codekiln.schema.json"
    assert run_cli("schema").stdout == committed


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_every_bundled_config_validates_and_points_at_the_schema(path, validator):
    text = path.read_text()
    assert text.startswith("# yaml-language-server: $schema=codekiln.schema.json\n")
    assert list(validator.iter_errors(yaml.safe_load(text))) == []


def test_schema_types_each_kinds_params(validator):
    schema = config_schema()
    for name in KINDS:
        params = schema["$defs"][f"Params_{name}"]
        assert params["additionalProperties"] is False and "required" not in params
    lintseq = schema["$defs"]["Params_lintseq"]["properties"]
    assert lintseq["paths_per_program"]["type"] == "integer"


@pytest.mark.parametrize("edit, key", [
    (lambda d: d.update(colour="red"), "colour"),  # a typo'd top-level key
    (lambda d: d.update(kind="nope"), "kind"),
    (lambda d: d.update(params={"paths_per_progam": 3}), "params.paths_per_progam"),
    (lambda d: d.update(params={"paths_per_program": "five"}), "params.paths_per_program"),
    (lambda d: d["source"].update(fields={"title": "x"}), "source.fields.title"),
    (lambda d: d.update(beam={"mode": "fast"}), "beam.mode"),
    (lambda d: d.update(dedupe={"near": "yes"}), "dedupe.near"),
    (lambda d: d.update(name="Bad Name"), "name"),
])
def test_what_the_schema_flags_the_validator_refuses_naming_the_key(edit, key, validator):
    doc = {"name": "seqs", "kind": "lintseq",
           "source": {"path": str(REPO / "configs" / "samples" / "humaneval.jsonl"),
                      "fields": {"id": "task_id", "prompt": "prompt", "solution": "canonical_solution"}}}
    assert list(validator.iter_errors(doc)) == [] and parse(copy.deepcopy(doc), str(REPO))
    edit(doc)
    assert list(validator.iter_errors(doc)), json.dumps(doc)
    with pytest.raises(ConfigError) as e:
        parse(doc, str(REPO))
    assert e.value.key == key
